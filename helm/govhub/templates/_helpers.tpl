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
AllInOne: one target `all` serving every prefix. Microservices: one per service.
*/}}
{{- define "govhub.targets" -}}
{{- if eq .Values.deploymentMode "AllInOne" }}
- target: all
  prefixes: [/registry, /exchange, /alerting, /sms]
{{- else }}
- target: registry
  prefixes: [/registry]
- target: exchange
  prefixes: [/exchange]
- target: alerting
  prefixes: [/alerting]
- target: sms-gateway
  prefixes: [/sms]
{{- end }}
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
{{- $names := list .Values.database.existingSecret .Values.database.migration.existingSecret .Values.database.appPassword.existingSecret .Values.broker.existingSecret .Values.jwt.existingSecret .Values.operatorBootstrap.existingSecret .Values.smsc.existingSecret }}
{{- $parts := list .Values.rolloutToken }}
{{- range $name := $names }}
{{- if $name }}
{{- $secret := lookup "v1" "Secret" $root.Release.Namespace $name }}
{{- $parts = append $parts (printf "%s=%s" $name (toJson (default (dict) (get (default (dict) $secret) "data")))) }}
{{- end }}
{{- end }}
{{- join "\n" $parts | sha256sum }}
{{- end }}
