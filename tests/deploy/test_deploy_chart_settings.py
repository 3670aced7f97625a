"""What the chart gives each pod, read by the services' own settings: every GOVHUB_ variable
it sets is a setting of the service that pod runs (a misspelt one would be ignored
silently: settings ignore unknown variables), and the whole environment loads in production
with the Secrets' values filled in."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from govhub_alerting.settings import AlertingSettings
from govhub_common.settings import CommonSettings
from govhub_console.settings import ConsoleSettings
from govhub_exchange.settings import ExchangeSettings
from govhub_registry.settings import RegistrySettings
from govhub_sms.settings import SmsSettings
from tests.deploy.support import component, of_kind, render

SETTINGS: dict[str, tuple[type[CommonSettings], ...]] = {
    "registry": (RegistrySettings,),
    "exchange": (ExchangeSettings,),
    "alerting": (AlertingSettings,),
    "sms-gateway": (SmsSettings,),
    "console": (ConsoleSettings,),
}
SETTINGS["all"] = tuple(cls for classes in SETTINGS.values() for cls in classes)

# Every option that adds a variable, so that each one is checked.
EVERYTHING: dict[str, Any] = {
    "database": {
        "migration": {"existingSecret": "govhub-database-owner"},
        "appPassword": {"existingSecret": "govhub-app-password"},
    },
    "city": {"existingConfigMap": "guangzhou"},
    "ingress": {"trustedProxies": ["10.244.0.0/16"]},
    "webhooks": {"allowNetworks": ["10.20.0.0/16"], "denyNetworks": ["10.0.0.0/8"]},
    # Read by the exchange and the console alike: given to every pod.
    "config": {"extraEnv": {"GOVHUB_CONSOLE_SESSION_MAX_SECONDS": 14400}},
    "console": {
        "publicUrl": "https://hub.gz.gov.cn/console",
        "oidc": {
            "issuer": "https://sso.gz.gov.cn/realms/govhub",
            "agencyClaim": "attributes.agency",
        },
    },
}

# Stand-ins for what the Secrets hold, by variable.
SECRET_VALUES = {
    "GOVHUB_DATABASE_URL": "postgresql://govhub_app:pw@db:5432/govhub",
    "GOVHUB_AMQP_URL": "amqp://govhub:pw@mq:5672/",
    "GOVHUB_SMS_PROVIDERS": json.dumps(
        [{"name": "carrier", "kind": "smpp", "host": "smsc.example", "system_id": "gov"}]
    ),
}


def pod_environment(values: dict[str, Any], mode: str) -> dict[str, dict[str, str]]:
    """target -> the environment its container starts with (ConfigMap, then env)."""
    objects = render({"deploymentMode": mode, **values})
    (config,) = [
        m for m in of_kind(objects, "ConfigMap") if "GOVHUB_ENVIRONMENT" in m.get("data", {})
    ]
    pods: dict[str, dict[str, str]] = {}
    for d in of_kind(objects, "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        environment = dict(config["data"])
        for e in c.get("env", []):
            if "value" in e:
                environment[e["name"]] = e["value"]
            else:
                assert "secretKeyRef" in e["valueFrom"], e
                environment[e["name"]] = SECRET_VALUES.get(e["name"], "s3cret-" + "x" * 32)
        pods[component(d)] = environment
    return pods


def known(name: str, classes: tuple[type[CommonSettings], ...]) -> bool:
    field = name.removeprefix("GOVHUB_").lower()
    return any(field in cls.model_fields for cls in classes)


@pytest.mark.parametrize("mode", ["Microservices", "AllInOne"])
def test_every_variable_is_a_setting_of_its_service(mode: str) -> None:
    for target, environment in pod_environment(EVERYTHING, mode).items():
        unknown = [n for n in environment if not known(n, SETTINGS[target])]
        assert not unknown, (target, unknown)


def test_the_oidc_client_secret_is_a_console_setting() -> None:
    values = {
        "console": {
            "oidc": {**EVERYTHING["console"]["oidc"], "clientSecret": {"existingSecret": "o"}}
        }
    }
    environment = pod_environment(values, "Microservices")["console"]
    assert "GOVHUB_CONSOLE_OIDC_CLIENT_SECRET" in environment
    assert known("GOVHUB_CONSOLE_OIDC_CLIENT_SECRET", SETTINGS["console"])


@pytest.mark.parametrize("mode", ["Microservices", "AllInOne"])
def test_the_charts_environment_loads_in_production(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for target, environment in pod_environment(EVERYTHING, mode).items():
        for cls in SETTINGS[target]:
            with monkeypatch.context() as m:
                for name in [n for n in os.environ if n.startswith("GOVHUB_")]:
                    m.delenv(name)
                for name, value in environment.items():
                    m.setenv(name, value)
                settings = cls()
                assert settings.environment == "production"
                assert settings.console_session_max_seconds == 14400
                if isinstance(settings, ConsoleSettings):
                    assert settings.console_public_url == "https://hub.gz.gov.cn/console"
                    assert settings.console_oidc_agency_claim == "attributes.agency"
                    assert settings.console_cookie_secure is True
                    if target == "console":
                        assert settings.console_hub_url and "/exchange=http://" in (
                            settings.console_hub_url
                        )
                if isinstance(settings, ExchangeSettings):
                    assert settings.console_client_secret is not None
                    assert settings.console_oidc_issuer == "https://sso.gz.gov.cn/realms/govhub"
