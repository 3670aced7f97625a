{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "govhub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; a release already named like the chart is not repeated. */}}
{{- define "govhub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "govhub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The targets this release deploys, as a list of dicts {target, prefixes}.
AllInOne: one target `all` serving every prefix. Microservices: one per service, the
console (pages for people, /console) when console.enabled.
*/}}
{{- define "govhub.targets" -}}
{{- if eq .Values.deploymentMode "AllInOne" }}
- target: all
  prefixes: [/registry, /exchange, /alerting, /sms{{ if .Values.console.enabled }}, /console{{ end }}]
{{- else }}
- target: registry
  prefixes: [/registry]
- target: exchange
  prefixes: [/exchange]
- target: alerting
  prefixes: [/alerting]
- target: sms-gateway
  prefixes: [/sms]
{{- if .Values.console.enabled }}
- target: console
  prefixes: [/console]
{{- end }}
{{- end }}
{{- end }}

{{/* The prefixes that serve pages to people rather than an API: the Ingress routes the
whole prefix, not only <prefix>/v1 and the API's documentation. */}}
{{- define "govhub.pagePrefixes" -}}
[/console]
{{- end }}

{{/* Name of one target's objects: <fullname>-<target>. Call with (dict "root" $ "target" "x"). */}}
{{- define "govhub.componentName" -}}
{{- printf "%s-%s" (include "govhub.fullname" .root) .target | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: name, instance and component only (immutable in a Deployment). */}}
{{- define "govhub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "govhub.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .target }}
{{- end }}

{{/* Common labels of every object. Call with (dict "root" $ "target" "x"). */}}
{{- define "govhub.labels" -}}
helm.sh/chart: {{ include "govhub.chart" .root }}
{{ include "govhub.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: govhub
{{- end }}

{{/* Labels of release-wide objects that belong to no one target. */}}
{{- define "govhub.releaseLabels" -}}
helm.sh/chart: {{ include "govhub.chart" . }}
app.kubernetes.io/name: {{ include "govhub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: govhub
{{- end }}

{{- define "govhub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "govhub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "govhub.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Environment from the pre-existing Secrets holding the PostgreSQL URLs: the application's
(GOVHUB_DATABASE_URL) and, when given, the schemas' owner's (GOVHUB_DATABASE_MIGRATION_URL).
The migration Job needs both: it migrates as the owner, then grants the application's
role. The services then hold the application's URL only (GOVHUB_MIGRATE_ON_START=false):
no pod that serves requests has the owner's credentials. Without a migration Secret, the
one URL does both everywhere, as before.
Arguments: dict "root" (the chart's context) and "job" (true for the migration Job).
*/}}
{{- define "govhub.databaseEnv" -}}
{{- $db := .root.Values.database }}
- name: GOVHUB_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required" $db.existingSecret }}
      key: {{ $db.urlKey }}
{{- with $db.migration.existingSecret }}
{{- if and (eq . $db.existingSecret) (eq $db.migration.urlKey $db.urlKey) }}
{{- fail "\n\ngovhub: database.migration names the same Secret and key as database: the application would own its tables. Give GOVHUB_DATABASE_URL the application's own role (docs/deployment.md, Database roles)." }}
{{- end }}
{{- if $.job }}
- name: GOVHUB_DATABASE_MIGRATION_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $db.migration.urlKey }}
{{- else }}
- name: GOVHUB_MIGRATE_ON_START
  value: "false"
{{- end }}
{{- end }}
{{- with $db.appPassword.existingSecret }}
- name: GOVHUB_DATABASE_APP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $db.appPassword.key }}
{{- end }}
{{- end }}

{{- define "govhub.brokerEnv" -}}
- name: GOVHUB_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "broker.existingSecret is required" .Values.broker.existingSecret }}
      key: {{ .Values.broker.urlKey }}
{{- end }}

{{/* The plain settings, shared by the ConfigMap and the migration hook. */}}
{{- define "govhub.configData" -}}
GOVHUB_ENVIRONMENT: {{ .Values.environment | quote }}
GOVHUB_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
GOVHUB_HOME: {{ .Values.homeVolume.path | quote }}
GOVHUB_DATABASE_APP_ROLE: {{ .Values.database.appRole | quote }}
{{- range $k, $v := .Values.config.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/* Does this target run the SMS gateway (and so talk to the SMSC)? */}}
{{- define "govhub.talksToSmsc" -}}
{{- if or (eq . "sms-gateway") (eq . "all") }}true{{ end }}
{{- end }}

{{/* Does this target run the exchange (it issues tokens, so it needs the JWT private key,
and it delivers webhooks)? */}}
{{- define "govhub.runsExchange" -}}
{{- if or (eq . "exchange") (eq . "all") }}true{{ end }}
{{- end }}

{{/* Does this target run the console (pages for people at /console)? */}}
{{- define "govhub.runsConsole" -}}
{{- if or (eq . "console") (eq . "all") }}true{{ end }}
{{- end }}

{{/*
GOVHUB_CONSOLE_PUBLIC_URL, where browsers reach the console (the only Origin its forms are
accepted from): console.publicUrl, else the Ingress's one host's /console. Empty with no
Ingress or several hosts: the console then trusts the Host each request names.
*/}}
{{- define "govhub.consolePublicUrl" -}}
{{- if .Values.console.publicUrl }}
{{- .Values.console.publicUrl | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled (eq (len .Values.ingress.hosts) 1) }}
{{- printf "%s://%s/console" (ternary "https" "http" .Values.ingress.tls.enabled) (first .Values.ingress.hosts) }}
{{- end }}
{{- end }}

{{/*
GOVHUB_CONSOLE_HUB_URL of a console running apart: console.hubUrl, else each other
service's prefix pointing at its in-cluster Service (hub_urls form,
/registry=http://<release>-govhub-registry:80,...). The console calls their public APIs.
*/}}
{{- define "govhub.consoleHubUrl" -}}
{{- if .Values.console.hubUrl }}
{{- .Values.console.hubUrl }}
{{- else }}
{{- $root := . }}
{{- $parts := list }}
{{- range $t := include "govhub.targets" . | fromYamlArray }}
{{- if not (include "govhub.runsConsole" $t.target) }}
{{- range $prefix := $t.prefixes }}
{{- $parts = append $parts (printf "%s=http://%s:%v" $prefix (include "govhub.componentName" (dict "root" $root "target" $t.target)) $root.Values.service.port) }}
{{- end }}
{{- end }}
{{- end }}
{{- join "," $parts }}
{{- end }}
{{- end }}

{{/*
The console's settings, for the targets that read them: the exchange (it keeps the
console's client and checks the people the console vouches for) and the console.
Arguments: dict "root" (the chart's context) and "target".
*/}}
{{- define "govhub.consoleEnv" -}}
{{- $c := .root.Values.console }}
{{- $oidc := $c.oidc }}
{{- if or (include "govhub.runsExchange" .target) (include "govhub.runsConsole" .target) }}
{{- with $c.clientSecret.existingSecret }}
# Shared by the exchange and the console only: with it the console obtains people's tokens.
- name: GOVHUB_CONSOLE_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $c.clientSecret.key }}
{{- end }}
- name: GOVHUB_CONSOLE_LOCAL_ACCOUNTS
  value: {{ $c.localAccounts | quote }}
{{- with $oidc.issuer }}
- name: GOVHUB_CONSOLE_OIDC_ISSUER
  value: {{ . | quote }}
- name: GOVHUB_CONSOLE_OIDC_CLIENT_ID
  value: {{ $oidc.clientId | quote }}
- name: GOVHUB_CONSOLE_OIDC_AGENCY_CLAIM
  value: {{ $oidc.agencyClaim | quote }}
- name: GOVHUB_CONSOLE_OIDC_ROLE_CLAIM
  value: {{ $oidc.roleClaim | quote }}
- name: GOVHUB_CONSOLE_OIDC_NAME_CLAIM
  value: {{ $oidc.nameClaim | quote }}
{{- end }}
{{- end }}
{{- if include "govhub.runsConsole" .target }}
{{- with include "govhub.consolePublicUrl" .root }}
- name: GOVHUB_CONSOLE_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
- name: GOVHUB_CONSOLE_COOKIE_SECURE
  value: {{ $c.cookieSecure | quote }}
{{- if or (eq .target "console") $c.hubUrl }}
- name: GOVHUB_CONSOLE_HUB_URL
  value: {{ include "govhub.consoleHubUrl" .root | quote }}
{{- end }}
{{- if and $oidc.issuer $oidc.clientSecret.existingSecret }}
# The console's own secret at the identity provider: the console alone talks to its token
# endpoint.
- name: GOVHUB_CONSOLE_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $oidc.clientSecret.existingSecret }}
      key: {{ $oidc.clientSecret.key }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Refuse, in production, what would lose data or mislead (values.schema.json says the same;
the services' own settings refuse it again at start). Included by every Deployment.
*/}}
{{- define "govhub.validateProduction" -}}
{{- if eq .Values.environment "production" }}
{{- if and (not .Values.operatorBootstrap.existingSecret) (not .Values.operatorBootstrap.allowGenerated) }}
{{- fail "\n\ngovhub: production needs the operator secret in a Secret: create one (kubectl create secret generic govhub-operator --from-literal=secret=\"$(openssl rand -base64 32)\") and set operatorBootstrap.existingSecret. A generated secret would change on every restart and scale-up; operatorBootstrap.allowGenerated=true accepts that for a throwaway hub." }}
{{- end }}
{{- if and (not .Values.smsc.existingSecret) (not .Values.smsc.allowLogProvider) }}
{{- fail "\n\ngovhub: production needs a real SMS carrier: create a Secret with the SMPP providers JSON (see docs/sms.md) and set smsc.existingSecret. The development `log` provider counts messages delivered though no citizen gets one; smsc.allowLogProvider=true accepts that for staging." }}
{{- end }}
{{- if not .Values.console.clientSecret.existingSecret }}
{{- fail "\n\ngovhub: production needs the console's client secret in a Secret, given to the exchange and the console: create one (kubectl create secret generic govhub-console --from-literal=secret=\"$(openssl rand -base64 32)\") and set console.clientSecret.existingSecret. A generated secret would differ between the exchange's and the console's pods and change on every restart, so no one could sign in." }}
{{- end }}
{{- if not .Values.console.cookieSecure }}
{{- fail "\n\ngovhub: production refuses console.cookieSecure=false: the session cookie would travel over plain http. Serve the console over https (ingress.tls)." }}
{{- end }}
{{- with .Values.console.oidc.issuer }}
{{- if not (hasPrefix "https://" .) }}
{{- fail "\n\ngovhub: production refuses an identity provider not served over https (console.oidc.issuer)." }}
{{- end }}
{{- end }}
{{- if not .Values.jwt.existingSecret }}
{{- fail "\n\ngovhub: production needs the token key pair in a Secret (jwt.existingSecret); generated keys would differ per pod." }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Checksum of the data of every Secret the pods read, looked up in the cluster during
install and upgrade (lookup returns nothing under `helm template`: then only the names and
rolloutToken count). A rotated password or key rolls the pods at the next upgrade.
*/}}
{{- define "govhub.secretsChecksum" -}}
{{- $root := . }}
{{- $names := list .Values.database.existingSecret .Values.database.migration.existingSecret .Values.database.appPassword.existingSecret .Values.broker.existingSecret .Values.jwt.existingSecret .Values.operatorBootstrap.existingSecret .Values.smsc.existingSecret .Values.console.clientSecret.existingSecret .Values.console.oidc.clientSecret.existingSecret }}
{{- $parts := list .Values.rolloutToken }}
{{- range $name := $names }}
{{- if $name }}
{{- $secret := lookup "v1" "Secret" $root.Release.Namespace $name }}
{{- $parts = append $parts (printf "%s=%s" $name (toJson (default (dict) (get (default (dict) $secret) "data")))) }}
{{- end }}
{{- end }}
{{- join "\n" $parts | sha256sum }}
{{- end }}
