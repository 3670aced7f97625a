"""The Helm chart: lints, renders, validates against Kubernetes 1.30, and does what an
operator expects in each mode."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy.support import (
    CHART,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    component,
    load_values,
    notes,
    of_kind,
    render,
)

API_SERVICES = {"registry", "exchange", "alerting", "sms-gateway"}
SERVICES = API_SERVICES | {"console"}
# The API's prefixes (<prefix>/v1, its OpenAPI document and docs pages are routed) ...
PREFIXES = {
    "/registry": "registry",
    "/exchange": "exchange",
    "/alerting": "alerting",
    "/sms": "sms-gateway",
}
# ... and the console's, whose pages are routed whole.
PAGES = {"/console": "console"}
SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
STANDARD_LABELS = SELECTOR_KEYS | {
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}
# Prometheus Operator kinds: no schema in kubernetes-validate; checked below by hand.
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def manifest(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "_template"}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def env(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


# --- lint, schema, validation ---------------------------------------------------------


def test_chart_lints_strict(values_name: str) -> None:
    report = helm.lint(
        CHART, load_values(values_name), strict=True, kube_version=f"v{KUBE_VERSION}"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_lint_reports_a_broken_values_file() -> None:
    report = helm.lint(CHART, {"deploymentMode": "Split"}, strict=True)
    assert report["errors"] or any(m["severity"] >= 3 for m in report["messages"])


def test_schema_rejects_typos_and_bad_modes() -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(load_values("ha"))
        with pytest.raises(helm.HelmValuesError, match="deploymentMode"):
            chart.validate_schema({"deploymentMode": "Split"})
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({"autoscalling": {"enabled": True}})
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({"services": {"exchange": {"replicas": "three"}}})


def test_every_values_key_is_described() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    undescribed: list[str] = []

    def walk(node: dict[str, Any], value: Any, path: str) -> None:
        if not node.get("description"):
            undescribed.append(path or "<root>")
        props = node.get("properties", {})
        for key, sub in props.items():
            walk(sub, value.get(key) if isinstance(value, dict) else None, f"{path}.{key}")
        if isinstance(value, dict) and props:
            for key in value:
                if key not in props:
                    undescribed.append(f"{path}.{key} (in values.yaml, not in the schema)")

    walk(schema, defaults, "")
    assert not undescribed, undescribed


def test_manifests_validate_against_kubernetes(rendered: dict[str, list[dict]]) -> None:
    failures: list[str] = []
    checked = 0
    for name, objects in rendered.items():
        for obj in objects:
            if obj["kind"] in OPERATOR_KINDS:
                continue
            try:
                kubernetes_validate.validate(manifest(obj), KUBE_VERSION, strict=True)
                checked += 1
            except (
                kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError,
            ) as exc:
                what = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
                failures.append(f"{what}: {getattr(exc, 'message', exc)}")
    assert not failures, "\n".join(failures)
    assert checked >= 20


def test_operator_objects_are_well_formed(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["ha"]
    (sm,) = of_kind(objects, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    # govhub's own `service` label must survive the scrape, and job="govhub" is what the
    # alert rules select.
    assert endpoint["honorLabels"] is True
    assert {"targetLabel": "job", "replacement": "govhub"} in endpoint["relabelings"]
    for svc in of_kind(objects, "Service"):
        labels = svc["metadata"]["labels"]
        assert all(labels[k] == v for k, v in sm["spec"]["selector"]["matchLabels"].items())

    (rule,) = of_kind(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    rules_file = yaml.safe_load((CHART / "rules" / "govhub-alerts.yaml").read_text())
    assert rule["spec"] == rules_file


def test_operator_objects_are_off_by_default(rendered: dict[str, list[dict]]) -> None:
    kinds = {o["kind"] for o in rendered["default"]}
    assert not kinds & OPERATOR_KINDS


# --- the two modes ----------------------------------------------------------------------


def test_microservices_renders_one_deployment_per_service(rendered: dict[str, list[dict]]) -> None:
    deployments = of_kind(rendered["default"], "Deployment")
    assert {component(d) for d in deployments} == SERVICES
    selectors = [
        json.dumps(d["spec"]["selector"]["matchLabels"], sort_keys=True) for d in deployments
    ]
    assert len(set(selectors)) == len(SERVICES), "two Deployments would fight over the same pods"
    for d in deployments:
        target = component(d)
        assert container(d)["args"] == [
            "run",
            "--target",
            target,
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
        ]
        assert set(d["spec"]["selector"]["matchLabels"]) == SELECTOR_KEYS
        assert (
            d["spec"]["template"]["metadata"]["labels"].items()
            >= d["spec"]["selector"]["matchLabels"].items()
        )


def test_allinone_renders_one_deployment(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["allinone"]
    (d,) = of_kind(objects, "Deployment")
    assert component(d) == "all"
    assert container(d)["args"] == ["run", "--target", "all", "--host", "0.0.0.0", "--port", "8000"]
    assert len(of_kind(objects, "Service")) == 1


def test_services_select_their_deployments_pods(rendered: dict[str, list[dict]]) -> None:
    for name in ("default", "allinone"):
        objects = rendered[name]
        pods = {
            component(d): d["spec"]["template"]["metadata"]["labels"]
            for d in of_kind(objects, "Deployment")
        }
        for svc in of_kind(objects, "Service"):
            selector = svc["spec"]["selector"]
            matched = [c for c, labels in pods.items() if labels.items() >= selector.items()]
            assert matched == [component(svc)], (name, svc["metadata"]["name"], matched)
            assert svc["spec"]["ports"][0]["targetPort"] == "http"


# What the Ingress routes under each prefix: the API and its documentation, nothing else.
ROUTED = {("/v1", "Prefix"), ("/openapi.json", "Exact"), ("/docs", "Prefix"), ("/redoc", "Exact")}


def ingress_routes(objects: list[dict]) -> dict[str, str]:
    """prefix -> component of the Service its paths go to."""
    (ing,) = of_kind(objects, "Ingress")
    services = {s["metadata"]["name"]: component(s) for s in of_kind(objects, "Service")}
    routes: dict[str, str] = {}
    for rule in ing["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            if path["path"] in PAGES:
                prefix = path["path"]
                assert path["pathType"] == "Prefix", path
            else:
                prefix, rest = "/" + path["path"].split("/")[1], path["path"].split("/", 2)[2]
                assert ("/" + rest, path["pathType"]) in ROUTED, path
            backend = path["backend"]["service"]
            assert backend["port"] == {"name": "http"}
            target = services[backend["name"]]  # KeyError: no such Service
            assert routes.setdefault(prefix, target) == target
    return routes


def routed(path: str, ing: dict) -> bool:
    """Whether a request path reaches a backend through the Ingress (Prefix and Exact)."""
    for rule in ing["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            if p["pathType"] == "Exact" and path == p["path"]:
                return True
            if p["pathType"] == "Prefix" and (
                path == p["path"] or path.startswith(p["path"] + "/")
            ):
                return True
    return False


def test_ingress_keeps_metrics_and_probes_inside_the_cluster(
    values_name: str, rendered: dict[str, list[dict]]
) -> None:
    (ing,) = of_kind(rendered[values_name], "Ingress")
    for prefix in PREFIXES:
        assert routed(f"{prefix}/v1/whoami", ing)
        assert routed(f"{prefix}/openapi.json", ing) and routed(f"{prefix}/docs", ing)
        for internal in ("/metrics", "/readyz", "/healthz", "/v1x"):
            assert not routed(prefix + internal, ing), prefix + internal
    for internal in ("/metrics", "/readyz", "/healthz", "/events/status", "/"):
        assert not routed(internal, ing), internal


def test_metrics_have_a_port_of_their_own(
    values_name: str, rendered: dict[str, list[dict]]
) -> None:
    """Pods serve /metrics on the `metrics` port (GOVHUB_METRICS_PORT; the API port then
    answers 404 for it), Services name it for the ServiceMonitor, annotations point
    annotation-based discovery at it, and no Ingress rule reaches it (issue 15, point 13)."""
    objects = rendered[values_name]
    port = 9464
    for deployment in of_kind(objects, "Deployment"):
        c = container(deployment)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["metrics"] == port and ports["http"] != port
        assert env(c)["GOVHUB_METRICS_PORT"]["value"] == str(port)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
    for svc in of_kind(objects, "Service"):
        ports = {p["name"]: p for p in svc["spec"]["ports"]}
        assert ports["metrics"]["targetPort"] == "metrics"
    (ing,) = of_kind(objects, "Ingress")
    backends = [
        p["backend"]["service"]["port"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]
    ]
    assert backends and all(b == {"name": "http"} for b in backends)
    for policy in of_kind(objects, "NetworkPolicy"):
        allowed = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
        assert sorted(allowed) == ["http", "metrics"]


def test_metrics_port_peers_are_configurable() -> None:
    prometheus = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    objects = render({"metrics": {"port": 9999}, "networkPolicy": {"metricsFrom": [prometheus]}})
    for policy in of_kind(objects, "NetworkPolicy"):
        (rule,) = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "metrics"]
        assert rule["from"] == [prometheus]
    for deployment in of_kind(objects, "Deployment"):
        assert env(container(deployment))["GOVHUB_METRICS_PORT"]["value"] == "9999"


def test_ingress_serves_tls_with_a_class_by_default(rendered: dict[str, list[dict]]) -> None:
    (ing,) = of_kind(rendered["default"], "Ingress")
    assert ing["spec"]["ingressClassName"] == "nginx"
    hosts = [r["host"] for r in ing["spec"]["rules"]]
    assert ing["spec"]["tls"] == [{"hosts": hosts, "secretName": "govhub-tls"}]
    custom = render(
        {
            "ingress": {
                "className": "traefik",
                "hosts": ["hub.city.gov.cn", "api.city.gov.cn"],
                "tls": {"enabled": True, "secretName": "city-cert"},
            }
        }
    )
    (ing,) = of_kind(custom, "Ingress")
    assert ing["spec"]["ingressClassName"] == "traefik"
    assert ing["spec"]["tls"] == [
        {"hosts": ["hub.city.gov.cn", "api.city.gov.cn"], "secretName": "city-cert"}
    ]
    (plain,) = of_kind(render({"ingress": {"tls": {"enabled": False}}}), "Ingress")
    assert "tls" not in plain["spec"]


def test_ingress_routes_every_prefix_to_its_service(rendered: dict[str, list[dict]]) -> None:
    assert ingress_routes(rendered["default"]) == PREFIXES | PAGES


def test_allinone_ingress_keeps_the_same_urls(rendered: dict[str, list[dict]]) -> None:
    routes = ingress_routes(rendered["allinone"])
    assert set(routes) == set(PREFIXES) | set(PAGES)
    assert set(routes.values()) == {"all"}


# --- pods ------------------------------------------------------------------------------


def test_pods_are_hardened(values_name: str, rendered: dict[str, list[dict]]) -> None:
    for d in of_kind(rendered[values_name], "Deployment"):
        pod = d["spec"]["template"]["spec"]
        c = container(d)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        home = env_value(d, "GOVHUB_HOME", rendered[values_name])
        assert home == "/var/lib/govhub"
        for path in ("/tmp", home):
            assert "emptyDir" in volumes[mounts[path]], f"{path} must be writable"
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def env_value(d: dict, name: str, objects: list[dict]) -> str:
    """A variable's value in the container, following envFrom into the chart's ConfigMap."""
    c = container(d)
    if name in env(c):
        return env(c)[name]["value"]
    maps = {m["metadata"]["name"]: m["data"] for m in of_kind(objects, "ConfigMap")}
    for source in c.get("envFrom", []):
        data = maps[source["configMapRef"]["name"]]
        if name in data:
            return data[name]
    raise KeyError(name)


def test_probes_use_health_endpoints(rendered: dict[str, list[dict]]) -> None:
    for d in of_kind(rendered["default"], "Deployment") + of_kind(
        rendered["allinone"], "Deployment"
    ):
        c = container(d)
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in c["ports"]


def test_external_services_come_from_existing_secrets(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["default"]
    assert not of_kind(objects, "Secret"), "the chart must not create or overwrite Secrets"
    for d in of_kind(objects, "Deployment"):
        e = env(container(d))
        assert e["GOVHUB_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "govhub-database",
            "key": "url",
        }
        assert e["GOVHUB_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "govhub-rabbitmq",
            "key": "url",
        }
        assert env_value(d, "GOVHUB_ENVIRONMENT", objects) == "production"


def test_secret_names_and_keys_are_configurable() -> None:
    objects = render(
        {
            "database": {"existingSecret": "pg", "urlKey": "DATABASE_URL"},
            "broker": {"existingSecret": "mq", "urlKey": "AMQP_URL"},
        }
    )
    for d in of_kind(objects, "Deployment"):
        e = env(container(d))
        assert e["GOVHUB_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "pg",
            "key": "DATABASE_URL",
        }
        assert e["GOVHUB_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "mq",
            "key": "AMQP_URL",
        }


def test_jwt_private_key_only_where_tokens_are_issued(rendered: dict[str, list[dict]]) -> None:
    for name in ("default", "allinone"):
        for d in of_kind(rendered[name], "Deployment"):
            c = container(d)
            e = env(c)
            (jwt,) = [v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "jwt"]
            mounted = {item["key"] for item in jwt["secret"]["items"]}
            (mount,) = [m for m in c["volumeMounts"] if m["name"] == "jwt"]
            assert mount["readOnly"] is True
            assert jwt["secret"]["secretName"] == "govhub-jwt"
            assert e["GOVHUB_JWT_PUBLIC_KEY_FILE"]["value"] == f"{mount['mountPath']}/public.pem"
            if component(d) in {"exchange", "all"}:
                assert mounted == {"public.pem", "private.pem"}
                assert (
                    e["GOVHUB_JWT_PRIVATE_KEY_FILE"]["value"] == f"{mount['mountPath']}/private.pem"
                )
            else:
                assert mounted == {"public.pem"}
                assert "GOVHUB_JWT_PRIVATE_KEY_FILE" not in e


def test_config_change_rolls_the_pods() -> None:
    def checksums(values: dict) -> set[str]:
        return {
            d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for d in of_kind(render(values), "Deployment")
        }

    before = checksums({})
    after = checksums({"config": {"logLevel": "DEBUG"}})
    assert len(before) == 1 and len(after) == 1 and before != after


def test_topology_spread_selects_own_pods(rendered: dict[str, list[dict]]) -> None:
    for d in of_kind(rendered["ha"], "Deployment"):
        constraints = d["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in constraints} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }
        for c in constraints:
            assert c["labelSelector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]


def test_standard_labels_everywhere(values_name: str, rendered: dict[str, list[dict]]) -> None:
    for obj in rendered[values_name]:
        labels = obj["metadata"].get("labels", {})
        missing = (STANDARD_LABELS - {"app.kubernetes.io/component"}) - set(labels)
        assert not missing, (obj["kind"], obj["metadata"]["name"], missing)
        assert labels["app.kubernetes.io/instance"] == RELEASE


# --- high availability -----------------------------------------------------------------


def test_ha_values_scale_and_protect_every_service(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["ha"]
    deployments = {component(d): d for d in of_kind(objects, "Deployment")}
    assert set(deployments) == SERVICES
    hpas = {component(h): h for h in of_kind(objects, "HorizontalPodAutoscaler")}
    pdbs = {component(p): p for p in of_kind(objects, "PodDisruptionBudget")}
    assert set(hpas) == set(pdbs) == SERVICES
    for target, d in deployments.items():
        assert "replicas" not in d["spec"], "the HPA owns the replica count"
        hpa = hpas[target]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": d["metadata"]["name"],
        }
        assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] >= hpa["minReplicas"]
        assert (
            pdbs[target]["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]
        )
        assert pdbs[target]["spec"]["maxUnavailable"] < hpa["minReplicas"]


def test_hpa_and_pdb_are_switchable(rendered: dict[str, list[dict]]) -> None:
    kinds = {o["kind"] for o in rendered["default"]}
    assert "HorizontalPodAutoscaler" not in kinds and "PodDisruptionBudget" not in kinds
    for d in of_kind(rendered["default"], "Deployment"):
        assert d["spec"]["replicas"] == 1


# --- network policies ------------------------------------------------------------------


def egress_ports(policy: dict) -> set[tuple[str, Any]]:
    return {
        (p["protocol"], p["port"])
        for rule in policy["spec"]["egress"]
        for p in rule.get("ports", [])
    }


def test_network_policy_egress_is_limited(rendered: dict[str, list[dict]]) -> None:
    policies = {component(p): p for p in of_kind(rendered["default"], "NetworkPolicy")}
    deployments = {component(d): d for d in of_kind(rendered["default"], "Deployment")}
    assert set(policies) == SERVICES
    base = {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 5672), ("TCP", 5671)}
    for target, policy in policies.items():
        assert (
            policy["spec"]["podSelector"]["matchLabels"]
            == deployments[target]["spec"]["selector"]["matchLabels"]
        )
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        assert all(rule.get("ports") for rule in policy["spec"]["egress"]), (
            "an egress rule without ports allows everything"
        )
        extra = {
            "sms-gateway": {("TCP", 2775)},
            "exchange": {("TCP", 443)},
            # The other services' pods, behind their Services (see the console's test).
            "console": {("TCP", 8000)},
        }.get(target, set())
        assert egress_ports(policy) == base | extra, target


def test_sms_gateway_reaches_the_configured_smsc() -> None:
    smsc = {"ipBlock": {"cidr": "203.0.113.10/32"}}
    objects = render(
        {
            "smsc": {"existingSecret": "govhub-smsc", "port": 3700},
            "networkPolicy": {"smsc": {"to": [smsc]}},
        }
    )
    (policy,) = [p for p in of_kind(objects, "NetworkPolicy") if component(p) == "sms-gateway"]
    rules = [r for r in policy["spec"]["egress"] if {"port": 3700, "protocol": "TCP"} in r["ports"]]
    assert rules and rules[0]["to"] == [smsc]
    (d,) = [d for d in of_kind(objects, "Deployment") if component(d) == "sms-gateway"]
    providers = env(container(d))["GOVHUB_SMS_PROVIDERS"]["valueFrom"]["secretKeyRef"]
    assert providers == {"name": "govhub-smsc", "key": "providers.json"}
    others = [p for p in of_kind(objects, "NetworkPolicy") if component(p) != "sms-gateway"]
    assert all(("TCP", 3700) not in egress_ports(p) for p in others)


def test_allinone_policy_allows_the_smsc(rendered: dict[str, list[dict]]) -> None:
    (policy,) = of_kind(rendered["allinone"], "NetworkPolicy")
    assert ("TCP", 2775) in egress_ports(policy)


def test_network_policy_is_switchable() -> None:
    assert not of_kind(render({"networkPolicy": {"enabled": False}}), "NetworkPolicy")


# --- migration hook ---------------------------------------------------------------------


def test_migration_runs_as_pre_install_and_pre_upgrade_hook(
    rendered: dict[str, list[dict]],
) -> None:
    (job,) = of_kind(rendered["default"], "Job")
    notes_ = job["metadata"]["annotations"]
    assert set(notes_["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert int(notes_["helm.sh/hook-weight"]) < 0
    assert "before-hook-creation" in notes_["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["migrate"]
    assert pod["restartPolicy"] == "Never"
    # The hook runs before the release's own objects exist: it may use none of them.
    own = {o["metadata"]["name"] for o in rendered["default"] if o["kind"] != "Job"}
    assert "envFrom" not in c
    assert pod.get("serviceAccountName", "default") not in own
    e = env(c)
    assert e["GOVHUB_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "govhub-database"
    assert e["GOVHUB_ENVIRONMENT"]["value"] == "production"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    # Production settings refuse to load without the verification key, migrate included;
    # the signing key stays out of the Job.
    (jwt,) = [v for v in pod["volumes"] if v["name"] == "jwt"]
    assert [i["key"] for i in jwt["secret"]["items"]] == ["public.pem"]
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "jwt"]
    assert e["GOVHUB_JWT_PUBLIC_KEY_FILE"]["value"] == f"{mount['mountPath']}/public.pem"
    assert "GOVHUB_AMQP_URL" not in e and "GOVHUB_JWT_PRIVATE_KEY_FILE" not in e


def test_operator_bootstrap_secret_reaches_only_the_exchange() -> None:
    objects = render({"operatorBootstrap": {"existingSecret": "govhub-operator", "key": "s"}})
    for d in of_kind(objects, "Deployment"):
        e = env(container(d))
        if component(d) == "exchange":
            ref = e["GOVHUB_OPERATOR_BOOTSTRAP_SECRET"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "govhub-operator", "key": "s"}
        else:
            assert "GOVHUB_OPERATOR_BOOTSTRAP_SECRET" not in e
    unset = render({"operatorBootstrap": {"existingSecret": "", "allowGenerated": True}})
    assert all(
        "GOVHUB_OPERATOR_BOOTSTRAP_SECRET" not in env(container(d))
        for d in of_kind(unset, "Deployment")
    )


# --- dashboards and notes ---------------------------------------------------------------


def test_dashboards_ship_as_sidecar_configmaps(rendered: dict[str, list[dict]]) -> None:
    maps = [
        m
        for m in of_kind(rendered["default"], "ConfigMap")
        if m["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    shipped = {key for m in maps for key in m["data"]}
    files = {p.name for p in (CHART / "dashboards").glob("*.json")}
    assert (
        shipped == files
        and {"overview.json", "exchange.json", "warnings.json", "sms.json", "scorecards.json"}
        <= files
    )
    for m in maps:
        for key, text in m["data"].items():
            assert json.loads(text) == json.loads((CHART / "dashboards" / key).read_text())


def test_dashboard_label_is_configurable() -> None:
    objects = render({"dashboards": {"label": "grafana-dashboard", "labelValue": "govhub"}})
    maps = [
        m for m in of_kind(objects, "ConfigMap") if "grafana-dashboard" in m["metadata"]["labels"]
    ]
    assert len(maps) == len(list((CHART / "dashboards").glob("*.json"))) == 5 and all(
        m["metadata"]["labels"]["grafana-dashboard"] == "govhub" for m in maps
    )


def test_notes_tell_which_secrets_to_create() -> None:
    text = notes()
    for secret in ("govhub-database", "govhub-rabbitmq", "govhub-jwt"):
        assert secret in text
    assert f"-n {NAMESPACE}" in text


# --- production refuses what would lose data or mislead --------------------------------


def render_error(values: dict[str, Any]) -> str:
    """Why `helm template` refuses these values (the schema speaks first)."""
    with pytest.raises(Exception) as err:
        render(values)
    return str(err.value)


def template_error(values: dict[str, Any], tmp_path: Path) -> str:
    """Why the templates refuse these values when the schema is skipped
    (helm --skip-schema-validation): a copy of the chart without its production rules."""
    copy = tmp_path / "govhub"
    shutil.copytree(CHART, copy)
    schema = json.loads((copy / "values.schema.json").read_text(encoding="utf-8"))
    del schema["allOf"]
    (copy / "values.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    with helm.Chart.load(copy) as chart, pytest.raises(Exception) as err:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return str(err.value)


def test_production_refuses_a_generated_operator_secret(tmp_path: Path) -> None:
    values = {"operatorBootstrap": {"existingSecret": ""}}
    message = render_error(values)
    assert "/operatorBootstrap/existingSecret" in message and "allowGenerated" in message
    message = template_error(values, tmp_path)
    assert "operatorBootstrap.existingSecret" in message and "every restart" in message
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)
    # Only when a value says so, and then the exchange is told it was allowed.
    allowed = render({"operatorBootstrap": {"existingSecret": "", "allowGenerated": True}})
    (exchange,) = [d for d in of_kind(allowed, "Deployment") if component(d) == "exchange"]
    e = env(container(exchange))
    assert e["GOVHUB_ALLOW_GENERATED_OPERATOR_SECRET"]["value"] == "true"
    assert "GOVHUB_OPERATOR_BOOTSTRAP_SECRET" not in e
    warning = notes({"operatorBootstrap": {"existingSecret": "", "allowGenerated": True}})
    assert "changes whenever the pod is replaced" in warning


def test_production_refuses_the_log_sms_provider(tmp_path: Path) -> None:
    values = {"smsc": {"existingSecret": ""}}
    message = render_error(values)
    assert "/smsc/existingSecret" in message and "allowLogProvider" in message
    message = template_error(values, tmp_path)
    assert "smsc.existingSecret" in message and "no citizen" in message
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)
    allowed = render({"smsc": {"existingSecret": "", "allowLogProvider": True}})
    (sms,) = [d for d in of_kind(allowed, "Deployment") if component(d) == "sms-gateway"]
    e = env(container(sms))
    assert e["GOVHUB_SMS_ALLOW_LOG_PROVIDER"]["value"] == "true"
    assert "GOVHUB_SMS_PROVIDERS" not in e


def test_development_may_use_development_providers() -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"environment": "staging"})  # GOVHUB_ENVIRONMENT refuses it
    objects = render(
        {
            "environment": "development",
            "operatorBootstrap": {"existingSecret": ""},
            "smsc": {"existingSecret": ""},
        }
    )
    assert {component(d) for d in of_kind(objects, "Deployment")} == SERVICES


def test_default_install_reads_every_credential_from_a_secret(
    rendered: dict[str, list[dict]],
) -> None:
    for d in of_kind(rendered["default"], "Deployment"):
        e = env(container(d))
        if component(d) == "exchange":
            ref = e["GOVHUB_OPERATOR_BOOTSTRAP_SECRET"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "govhub-operator", "key": "secret"}
            assert "GOVHUB_ALLOW_GENERATED_OPERATOR_SECRET" not in e
        if component(d) == "sms-gateway":
            ref = e["GOVHUB_SMS_PROVIDERS"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "govhub-smsc", "key": "providers.json"}
            assert "GOVHUB_SMS_ALLOW_LOG_PROVIDER" not in e


def test_notes_name_every_secret_to_create() -> None:
    text = notes(HARDENED)
    for secret in (
        "govhub-operator",
        "govhub-smsc",
        "govhub-tls",
        "govhub-database-owner",
        "govhub-console",
        "docs/deployment.md",
    ):
        assert secret in text
    assert "WARNING" not in text


def test_secret_changes_roll_the_pods() -> None:
    def checksums(values: dict) -> set[str]:
        return {
            d["spec"]["template"]["metadata"]["annotations"]["checksum/secrets"]
            for d in of_kind(render(values), "Deployment")
        }

    before = checksums({})
    assert len(before) == 1
    # Without a cluster `lookup` finds no Secret; the names and rolloutToken still count.
    assert checksums({"database": {"existingSecret": "pg-rotated"}}) != before
    assert checksums({"rolloutToken": "2026-12-03"}) != before


def test_prometheus_rule_selects_the_configured_job() -> None:
    objects = render(
        {
            "metrics": {
                "serviceMonitor": {"enabled": True, "jobName": "city-hub"},
                "prometheusRule": {
                    "enabled": True,
                    "runbookBaseUrl": "https://wiki.city.gov.cn/govhub/runbooks",
                },
            }
        }
    )
    (sm,) = of_kind(objects, "ServiceMonitor")
    assert {"targetLabel": "job", "replacement": "city-hub"} in sm["spec"]["endpoints"][0][
        "relabelings"
    ]
    (rule,) = of_kind(objects, "PrometheusRule")
    text = json.dumps(rule["spec"])
    assert 'job=\\"city-hub\\"' in text and 'job=\\"govhub\\"' not in text
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    for alert in alerts:
        assert alert["annotations"]["runbook_url"].startswith(
            "https://wiki.city.gov.cn/govhub/runbooks#"
        ), alert["alert"]


# --- hardening: database roles, proxies, webhook policy, audit checkpoints, archive ----

# What docs/deployment.md asks of production beside the defaults.
HARDENED: dict[str, Any] = {
    "database": {"migration": {"existingSecret": "govhub-database-owner"}},
    "ingress": {"trustedProxies": ["10.244.0.0/16"]},
    "audit": {"checkpoints": {"existingClaim": "govhub-audit-checkpoints"}},
    "archive": {"existingClaim": "govhub-log-archive"},
}


def secret_ref(e: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return e[name]["valueFrom"]["secretKeyRef"]


def test_migration_runs_as_the_owner_and_the_services_as_the_application() -> None:
    objects = render(
        {
            "database": {
                "existingSecret": "govhub-database",
                "migration": {"existingSecret": "govhub-database-owner", "urlKey": "owner-url"},
            }
        }
    )
    app = {"name": "govhub-database", "key": "url"}
    owner = {"name": "govhub-database-owner", "key": "owner-url"}
    (job,) = of_kind(objects, "Job")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    e = env(c)
    # The Job migrates as the owner, then grants GOVHUB_DATABASE_URL's role.
    assert secret_ref(e, "GOVHUB_DATABASE_MIGRATION_URL") == owner
    assert secret_ref(e, "GOVHUB_DATABASE_URL") == app
    deployments = of_kind(objects, "Deployment")
    assert {component(d) for d in deployments} == SERVICES
    for d in deployments:
        e = env(container(d))
        assert secret_ref(e, "GOVHUB_DATABASE_URL") == app
        # The pods that serve requests never hold the owner's credentials: the Job migrated.
        assert "GOVHUB_DATABASE_MIGRATION_URL" not in e, component(d)
        assert e["GOVHUB_MIGRATE_ON_START"]["value"] == "false"
    for obj in [job, *deployments]:
        kubernetes_validate.validate(manifest(obj), KUBE_VERSION, strict=True)


def test_one_database_url_stays_the_default(rendered: dict[str, list[dict]]) -> None:
    for name, objects in rendered.items():
        for obj in of_kind(objects, "Deployment") + of_kind(objects, "Job"):
            (c,) = obj["spec"]["template"]["spec"]["containers"]
            e = env(c)
            assert secret_ref(e, "GOVHUB_DATABASE_URL")["name"] == "govhub-database"
            assert "GOVHUB_DATABASE_MIGRATION_URL" not in e, (name, obj["metadata"]["name"])
            assert "GOVHUB_DATABASE_APP_PASSWORD" not in e
    text = notes()
    assert "WARNING: no database.migration.existingSecret" in text
    assert "database.appPassword.existingSecret" in text


def test_the_application_may_not_share_the_owners_url(tmp_path: Path) -> None:
    same = {"database": {"migration": {"existingSecret": "govhub-database"}}}
    message = template_error(same, tmp_path)
    assert "database.migration" in message and "own its tables" in message
    # Another key of the same Secret is another URL.
    render({"database": {"migration": {"existingSecret": "govhub-database", "urlKey": "owner"}}})
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"database": {"migration": {"secret": "govhub-database-owner"}}})


def test_the_application_role_and_its_password_reach_every_pod() -> None:
    objects = render(
        {"database": {"appRole": "hub_app", "appPassword": {"existingSecret": "govhub-app-pw"}}}
    )
    (config,) = [m for m in of_kind(objects, "ConfigMap") if is_settings(m)]
    assert config["data"]["GOVHUB_DATABASE_APP_ROLE"] == "hub_app"
    (job,) = of_kind(objects, "Job")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    pods = [c, *(container(d) for d in of_kind(objects, "Deployment"))]
    assert len(pods) == 1 + len(SERVICES)
    for pod in pods:
        e = env(pod)
        # One password for all: else each pod would reset the role's to its own.
        assert secret_ref(e, "GOVHUB_DATABASE_APP_PASSWORD") == {
            "name": "govhub-app-pw",
            "key": "password",
        }
    assert env(c)["GOVHUB_DATABASE_APP_ROLE"]["value"] == "hub_app"


def is_settings(configmap: dict[str, Any]) -> bool:
    """The chart's settings ConfigMap (the dashboards' carry the Grafana label)."""
    return "GOVHUB_ENVIRONMENT" in configmap.get("data", {})


def test_trusted_proxies_reach_the_exchange_only() -> None:
    proxies = ["10.244.0.0/16", "fd00:10:244::/56"]
    for mode, runs_exchange in (("Microservices", "exchange"), ("AllInOne", "all")):
        objects = render({"deploymentMode": mode, "ingress": {"trustedProxies": proxies}})
        for d in of_kind(objects, "Deployment"):
            e = env(container(d))
            if component(d) == runs_exchange:
                assert json.loads(e["GOVHUB_TRUSTED_PROXIES"]["value"]) == proxies
            else:
                assert "GOVHUB_TRUSTED_PROXIES" not in e
    assert all(
        "GOVHUB_TRUSTED_PROXIES" not in env(container(d)) for d in of_kind(render({}), "Deployment")
    )
    assert "ingress.trustedProxies is empty" in notes()
    assert "ingress.trustedProxies is empty" not in notes({"ingress": {"trustedProxies": proxies}})
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"ingress": {"trustedProxies": ["the ingress controller"]}})


def test_webhook_networks_reach_the_exchange_only() -> None:
    allow = ["10.20.0.0/16"]
    deny = ["10.0.0.0/8", "169.254.0.0/16"]
    objects = render({"webhooks": {"allowNetworks": allow, "denyNetworks": deny}})
    for d in of_kind(objects, "Deployment"):
        e = env(container(d))
        if component(d) == "exchange":
            assert json.loads(e["GOVHUB_WEBHOOK_ALLOW_NETWORKS"]["value"]) == allow
            assert json.loads(e["GOVHUB_WEBHOOK_DENY_NETWORKS"]["value"]) == deny
        else:
            assert "GOVHUB_WEBHOOK_ALLOW_NETWORKS" not in e
    # By default the chart leaves the exchange's own deny list alone.
    for d in of_kind(render({}), "Deployment"):
        e = env(container(d))
        assert "GOVHUB_WEBHOOK_DENY_NETWORKS" not in e
        assert "GOVHUB_WEBHOOK_ALLOW_NETWORKS" not in e


def pod_volume(d: dict[str, Any], name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The pod's volume of this name and the container's mount of it (None if absent)."""
    pod = d["spec"]["template"]["spec"]
    volumes = [v for v in pod["volumes"] if v["name"] == name]
    mounts = [m for m in container(d)["volumeMounts"] if m["name"] == name]
    return (volumes[0] if volumes else None, mounts[0] if mounts else None)


def test_audit_checkpoints_have_a_volume_on_the_exchange_only(
    rendered: dict[str, list[dict]],
) -> None:
    for name, runs_exchange in (("default", "exchange"), ("allinone", "all")):
        for d in of_kind(rendered[name], "Deployment"):
            volume, mount = pod_volume(d, "audit-checkpoints")
            e = env(container(d))
            if component(d) == runs_exchange:
                assert volume is not None and mount is not None
                assert "emptyDir" in volume
                assert e["GOVHUB_AUDIT_CHECKPOINT_DIR"]["value"] == mount["mountPath"]
                assert not mount.get("readOnly")
            else:
                assert volume is None and mount is None
                assert "GOVHUB_AUDIT_CHECKPOINT_DIR" not in e
    assert "WARNING: audit checkpoints go to an emptyDir" in notes()


def test_audit_checkpoints_go_to_the_claim_given() -> None:
    objects = render(
        {
            "audit": {
                "checkpoints": {
                    "existingClaim": "govhub-audit-checkpoints",
                    "mountPath": "/audit-heads",
                }
            }
        }
    )
    (exchange,) = [d for d in of_kind(objects, "Deployment") if component(d) == "exchange"]
    volume, mount = pod_volume(exchange, "audit-checkpoints")
    assert volume == {
        "name": "audit-checkpoints",
        "persistentVolumeClaim": {"claimName": "govhub-audit-checkpoints"},
    }
    assert mount == {"name": "audit-checkpoints", "mountPath": "/audit-heads"}
    assert env(container(exchange))["GOVHUB_AUDIT_CHECKPOINT_DIR"]["value"] == "/audit-heads"
    kubernetes_validate.validate(manifest(exchange), KUBE_VERSION, strict=True)
    text = notes({"audit": {"checkpoints": {"existingClaim": "govhub-audit-checkpoints"}}})
    assert "govhub-audit-checkpoints" in text
    assert "WARNING: audit checkpoints go to an emptyDir" not in text


def test_log_archive_has_a_volume_on_the_exchange_only(
    rendered: dict[str, list[dict]],
) -> None:
    for name, runs_exchange in (("default", "exchange"), ("allinone", "all")):
        for d in of_kind(rendered[name], "Deployment"):
            volume, mount = pod_volume(d, "log-archive")
            e = env(container(d))
            if component(d) == runs_exchange:
                assert volume is not None and mount is not None
                assert volume["emptyDir"] == {"sizeLimit": "1Gi"}
                assert mount["mountPath"] == "/var/lib/govhub-archive"
                assert e["GOVHUB_ARCHIVE_DIR"]["value"] == mount["mountPath"]
                # The exchange writes segments there and reads them back on import.
                assert not mount.get("readOnly")
            else:
                assert volume is None and mount is None
                assert "GOVHUB_ARCHIVE_DIR" not in e
    assert "WARNING: archived log segments go to an emptyDir" in notes()


def test_log_archive_goes_to_the_claim_given() -> None:
    objects = render({"archive": {"existingClaim": "govhub-log-archive", "mountPath": "/archive"}})
    (exchange,) = [d for d in of_kind(objects, "Deployment") if component(d) == "exchange"]
    volume, mount = pod_volume(exchange, "log-archive")
    assert volume == {
        "name": "log-archive",
        "persistentVolumeClaim": {"claimName": "govhub-log-archive"},
    }
    assert mount == {"name": "log-archive", "mountPath": "/archive"}
    assert env(container(exchange))["GOVHUB_ARCHIVE_DIR"]["value"] == "/archive"
    # The audit checkpoints keep their own volume.
    assert pod_volume(exchange, "audit-checkpoints")[0] == {
        "name": "audit-checkpoints",
        "emptyDir": {"sizeLimit": "64Mi"},
    }
    kubernetes_validate.validate(manifest(exchange), KUBE_VERSION, strict=True)
    text = notes({"archive": {"existingClaim": "govhub-log-archive"}})
    assert "govhub-log-archive" in text
    assert "WARNING: archived log segments go to an emptyDir" not in text


def test_hardened_values_lint_and_validate() -> None:
    report = helm.lint(CHART, HARDENED, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert not report["errors"] and not [m for m in report["messages"] if m["severity"] >= 2]
    for obj in render(HARDENED):
        if obj["kind"] not in OPERATOR_KINDS:
            kubernetes_validate.validate(manifest(obj), KUBE_VERSION, strict=True)


# --- a city's files at every start (issue 17) -------------------------------------------


def test_a_citys_files_are_mounted_in_every_pod_and_named_to_it() -> None:
    objects = render({"city": {"existingConfigMap": "guangzhou", "mountPath": "/city"}})
    deployments = of_kind(objects, "Deployment")
    assert {component(d) for d in deployments} == SERVICES
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert {"name": "city", "configMap": {"name": "guangzhou"}} in pod["volumes"]
        assert {"name": "city", "mountPath": "/city", "readOnly": True} in container(d)[
            "volumeMounts"
        ]
        assert env(container(d))["GOVHUB_CITY_FILES"]["value"] == "/city"
        kubernetes_validate.validate(manifest(d), KUBE_VERSION, strict=True)
    # By default a hub starts with no city's configuration.
    for d in of_kind(render({}), "Deployment"):
        assert "GOVHUB_CITY_FILES" not in env(container(d))
        assert all(v["name"] != "city" for v in d["spec"]["template"]["spec"]["volumes"])


# --- the console (issue 19) --------------------------------------------------------------


def deployments_by_component(objects: list[dict]) -> dict[str, dict[str, Any]]:
    return {component(d): d for d in of_kind(objects, "Deployment")}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and In expressions) picks labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def pod_labels(d: dict[str, Any]) -> dict[str, str]:
    return d["spec"]["template"]["metadata"]["labels"]


def test_the_console_is_a_fifth_deployment_running_its_target(
    rendered: dict[str, list[dict]],
) -> None:
    console = deployments_by_component(rendered["default"])["console"]
    assert container(console)["args"][:3] == ["run", "--target", "console"]
    for kind in ("Service", "NetworkPolicy"):
        assert "console" in {component(o) for o in of_kind(rendered["default"], kind)}, kind
    # Like every split-mode service: its own schema in the database, the broker for token
    # revocations, the public key to check tokens, never the signing key.
    e = env(container(console))
    assert secret_ref(e, "GOVHUB_DATABASE_URL")["name"] == "govhub-database"
    assert secret_ref(e, "GOVHUB_AMQP_URL")["name"] == "govhub-rabbitmq"
    assert "GOVHUB_JWT_PUBLIC_KEY_FILE" in e and "GOVHUB_JWT_PRIVATE_KEY_FILE" not in e
    assert e["GOVHUB_CONSOLE_COOKIE_SECURE"]["value"] == "true"
    assert e["GOVHUB_CONSOLE_LOCAL_ACCOUNTS"]["value"] == "true"
    assert e["GOVHUB_CONSOLE_PUBLIC_URL"]["value"] == "https://govhub.example.org/console"


def test_the_console_can_be_left_out() -> None:
    for mode in ("Microservices", "AllInOne"):
        objects = render({"deploymentMode": mode, "console": {"enabled": False}})
        components = {o["metadata"]["labels"].get("app.kubernetes.io/component") for o in objects}
        assert "console" not in components, mode
        routes = ingress_routes(objects)
        assert set(routes) == set(PREFIXES), mode
        for policy in of_kind(objects, "NetworkPolicy"):
            assert ("TCP", 8000) not in egress_ports(policy)
    assert "console account add" not in notes({"console": {"enabled": False}})


def test_the_ingress_routes_every_console_page(values_name: str, rendered: dict) -> None:
    objects = rendered[values_name]
    (ing,) = of_kind(objects, "Ingress")
    serving = "all" if values_name == "allinone" else "console"
    assert ingress_routes(objects)["/console"] == serving
    for page in ("/console", "/console/", "/console/login", "/console/warnings/w-1"):
        assert routed(page, ing), page
    # Only below /console: not a prefix that merely starts alike.
    assert not routed("/consoles", ing) and not routed("/console-admin/", ing)


def test_the_console_client_secret_reaches_only_the_exchange_and_the_console() -> None:
    values = {"console": {"clientSecret": {"existingSecret": "city-console", "key": "s"}}}
    for mode, holders in (("Microservices", {"exchange", "console"}), ("AllInOne", {"all"})):
        objects = render({"deploymentMode": mode, **values})
        for target, d in deployments_by_component(objects).items():
            e = env(container(d))
            if target in holders:
                assert secret_ref(e, "GOVHUB_CONSOLE_CLIENT_SECRET") == {
                    "name": "city-console",
                    "key": "s",
                }
            else:
                assert not {n for n in e if n.startswith("GOVHUB_CONSOLE_")}, target
        (job,) = of_kind(objects, "Job")
        assert "GOVHUB_CONSOLE_CLIENT_SECRET" not in env(
            job["spec"]["template"]["spec"]["containers"][0]
        )
    # The default name, as docs/deployment.md tells operators to create it.
    (exchange,) = [d for d in of_kind(render({}), "Deployment") if component(d) == "exchange"]
    assert secret_ref(env(container(exchange)), "GOVHUB_CONSOLE_CLIENT_SECRET") == {
        "name": "govhub-console",
        "key": "secret",
    }


OIDC: dict[str, Any] = {
    "issuer": "https://sso.gz.gov.cn/realms/govhub",
    "clientId": "hub-console",
    "agencyClaim": "attributes.agency",
    "roleClaim": "resource_access.hub-console.roles",
    "nameClaim": "preferred_username",
    "clientSecret": {"existingSecret": "govhub-console-oidc", "key": "oidc"},
    "egress": {"ports": [8443], "to": [{"ipBlock": {"cidr": "10.30.0.5/32"}}]},
}


def test_oidc_settings_reach_the_exchange_and_the_console_its_secret_the_console_only() -> None:
    for mode, exchange, console in (
        ("Microservices", "exchange", "console"),
        ("AllInOne", "all", "all"),
    ):
        objects = render({"deploymentMode": mode, "console": {"oidc": OIDC}})
        deployments = deployments_by_component(objects)
        for target in {exchange, console}:
            e = env(container(deployments[target]))
            assert e["GOVHUB_CONSOLE_OIDC_ISSUER"]["value"] == OIDC["issuer"]
            assert e["GOVHUB_CONSOLE_OIDC_CLIENT_ID"]["value"] == "hub-console"
            assert e["GOVHUB_CONSOLE_OIDC_AGENCY_CLAIM"]["value"] == "attributes.agency"
            assert (
                e["GOVHUB_CONSOLE_OIDC_ROLE_CLAIM"]["value"] == "resource_access.hub-console.roles"
            )
            assert e["GOVHUB_CONSOLE_OIDC_NAME_CLAIM"]["value"] == "preferred_username"
        for target, d in deployments.items():
            e = env(container(d))
            if target == console:
                assert secret_ref(e, "GOVHUB_CONSOLE_OIDC_CLIENT_SECRET") == {
                    "name": "govhub-console-oidc",
                    "key": "oidc",
                }
            else:
                assert "GOVHUB_CONSOLE_OIDC_CLIENT_SECRET" not in e, target
            if target not in {exchange, console}:
                assert "GOVHUB_CONSOLE_OIDC_ISSUER" not in e, target
        for obj in of_kind(objects, "Deployment"):
            kubernetes_validate.validate(manifest(obj), KUBE_VERSION, strict=True)
    text = notes({"console": {"oidc": OIDC}})
    assert "govhub-console-oidc" in text and OIDC["issuer"] in text
    # Without an issuer: no single sign-on settings at all.
    for d in of_kind(render({}), "Deployment"):
        assert not {n for n in env(container(d)) if n.startswith("GOVHUB_CONSOLE_OIDC_")}


def test_the_console_calls_the_other_services_at_their_in_cluster_services() -> None:
    from govhub_common.hub_urls import parse_hub_url

    objects = render({})
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    console = deployments_by_component(objects)["console"]
    bases = parse_hub_url(env(container(console))["GOVHUB_CONSOLE_HUB_URL"]["value"])
    assert isinstance(bases, dict) and set(bases) == set(PREFIXES)
    for prefix, base in bases.items():
        assert base.startswith("http://"), base
        host, port = base.removeprefix("http://").split(":")
        assert component(services[host]) == PREFIXES[prefix]
        assert int(port) == services[host]["spec"]["ports"][0]["port"]
    # A URL of the operator's wins; all-in-one calls the services in-process.
    given = "/exchange=http://ex:8000,/registry=http://reg:8000,/alerting=http://al:8000,/sms=http://sms:8000"
    console = deployments_by_component(render({"console": {"hubUrl": given}}))["console"]
    assert env(container(console))["GOVHUB_CONSOLE_HUB_URL"]["value"] == given
    (all_,) = of_kind(render({"deploymentMode": "AllInOne"}), "Deployment")
    assert "GOVHUB_CONSOLE_HUB_URL" not in env(container(all_))


def test_the_consoles_public_url_follows_the_ingress() -> None:
    def public_url(values: dict[str, Any]) -> str | None:
        console = deployments_by_component(render(values))["console"]
        e = env(container(console))
        return e["GOVHUB_CONSOLE_PUBLIC_URL"]["value"] if "GOVHUB_CONSOLE_PUBLIC_URL" in e else None

    one = {"hosts": ["hub.gz.gov.cn"]}
    assert public_url({"ingress": one}) == "https://hub.gz.gov.cn/console"
    plain = {"ingress": {**one, "tls": {"enabled": False}}, "environment": "development"}
    assert public_url(plain) == "http://hub.gz.gov.cn/console"
    assert public_url({"console": {"publicUrl": "https://console.gz.gov.cn/console/"}}) == (
        "https://console.gz.gov.cn/console"
    )
    # Its forms are accepted from that Origin only: with several hosts, or none, the
    # console trusts each request's Host rather than refuse every host but one.
    two = {"hosts": ["hub.gz.gov.cn", "api.gz.gov.cn"]}
    assert public_url({"ingress": two}) is None
    assert public_url({"ingress": {"enabled": False}}) is None
    text = notes({"ingress": two})
    assert "https://hub.gz.gov.cn/console/" in text and "https://api.gz.gov.cn/console/" in text


def test_network_policy_lets_the_console_reach_the_apis_and_nothing_else() -> None:
    controller = {"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}
    objects = render({"networkPolicy": {"ingressFrom": [controller]}})
    deployments = deployments_by_component(objects)
    policies = {component(p): p for p in of_kind(objects, "NetworkPolicy")}
    (to_apis,) = [
        r
        for r in policies["console"]["spec"]["egress"]
        if r.get("to") and r["ports"][0]["port"] == 8000
    ]
    assert to_apis["ports"] == [{"port": 8000, "protocol": "TCP"}]
    (peer,) = to_apis["to"]
    reached = {t for t, d in deployments.items() if selects(peer["podSelector"], pod_labels(d))}
    assert reached == API_SERVICES
    # Their ingress lets the console in beside the controller; the console's only the
    # controller (nobody calls the console but people).
    console_pods = pod_labels(deployments["console"])
    for target, policy in policies.items():
        (http,) = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "http"]
        assert controller in http["from"]
        from_console = [
            p
            for p in http["from"]
            if "podSelector" in p and selects(p["podSelector"], console_pods)
        ]
        assert bool(from_console) == (target in API_SERVICES), target
    # No identity provider configured: nobody may reach one.
    assert ("TCP", 8443) not in {x for p in policies.values() for x in egress_ports(p)}
    for obj in of_kind(objects, "NetworkPolicy"):
        kubernetes_validate.validate(manifest(obj), KUBE_VERSION, strict=True)


def test_network_policy_lets_the_exchange_and_the_console_reach_the_identity_provider() -> None:
    for mode, talkers in (("Microservices", {"exchange", "console"}), ("AllInOne", {"all"})):
        objects = render(
            {
                "deploymentMode": mode,
                "console": {"oidc": OIDC},
                "networkPolicy": {"webhooks": {"enabled": False}},
            }
        )
        for policy in of_kind(objects, "NetworkPolicy"):
            rules = [
                r
                for r in policy["spec"]["egress"]
                if {"port": 8443, "protocol": "TCP"} in r["ports"]
            ]
            if component(policy) in talkers:
                assert [r["to"] for r in rules] == [OIDC["egress"]["to"]], component(policy)
            else:
                assert not rules, component(policy)
            kubernetes_validate.validate(manifest(policy), KUBE_VERSION, strict=True)


def test_production_refuses_a_missing_console_client_secret(tmp_path: Path) -> None:
    values = {"console": {"clientSecret": {"existingSecret": ""}}}
    message = render_error(values)
    assert "/console/clientSecret/existingSecret" in message
    message = template_error(values, tmp_path)
    assert "console.clientSecret.existingSecret" in message and "no one could sign in" in message
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)
    # Even without the console: the exchange keeps its client and refuses to start without.
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(
            {"console": {"enabled": False, "clientSecret": {"existingSecret": ""}}}
        )
    # Development may let each process generate one, and is warned what that means.
    development = {"environment": "development", **values}
    for d in of_kind(render(development), "Deployment"):
        assert "GOVHUB_CONSOLE_CLIENT_SECRET" not in env(container(d))
    assert "WARNING: no console.clientSecret.existingSecret" in notes(development)


def test_production_refuses_insecure_console_sign_in(tmp_path: Path) -> None:
    insecure_cookie = {"console": {"cookieSecure": False}}
    plain_idp = {"console": {"oidc": {"issuer": "http://sso.gz.gov.cn/realms/govhub"}}}
    for values, words in ((insecure_cookie, "cookieSecure"), (plain_idp, "https")):
        with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
            chart.validate_schema(values)
        assert words in template_error(values, tmp_path / words)
        # Development over plain http (a laptop, a local identity provider) is allowed.
        objects = render({"environment": "development", **values})
        console = deployments_by_component(objects)["console"]
        assert (
            env(container(console))["GOVHUB_CONSOLE_COOKIE_SECURE"]["value"]
            == str(values["console"].get("cookieSecure", True)).lower()
        )


def test_console_values_are_checked_by_the_schema() -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema({"console": {"enabled": False, "localAccounts": False}})
        chart.validate_schema({"console": {"oidc": OIDC}})
        chart.validate_schema({"services": {"console": {"replicas": 2, "extraEnv": {"A": 1}}}})
        for bad in (
            {"console": {"enabled": "yes"}},
            {"console": {"oidc": {"issuerUrl": "https://sso.gz.gov.cn"}}},
            {"console": {"oidc": {"issuer": "sso.gz.gov.cn"}}},
            {"console": {"oidc": {"egress": {"ports": [0]}}}},
            {"console": {"publicUrl": "console.gz.gov.cn"}},
            {"console": {"clientSecret": {"key": ""}}},
            {"services": {"console": {"replica": 2}}},
        ):
            with pytest.raises(helm.HelmValuesError):
                chart.validate_schema(bad)


def test_notes_say_where_the_console_is_and_how_to_make_the_first_operator() -> None:
    text = notes()
    assert "https://govhub.example.org/console/" in text
    assert (
        "kubectl -n govhub exec -it deploy/gh-govhub-console -- govhub console account add "
        "--agency gz-datacenter --role operator --username" in text
    )
    allinone = notes({"deploymentMode": "AllInOne", "ingress": {"enabled": False}})
    assert "deploy/gh-govhub-all -- govhub console account add" in allinone
    assert "port-forward svc/gh-govhub-all" in allinone and "/console/" in allinone
    # Sign-in only through the identity provider: no local account to create.
    sso_only = notes({"console": {"localAccounts": False, "oidc": OIDC}})
    assert "console account add" not in sso_only and OIDC["issuer"] in sso_only
