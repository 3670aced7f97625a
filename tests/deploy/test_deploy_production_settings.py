"""The services refuse, in production, what the chart refuses: a manifest made by hand (or
a chart rendered with --skip-schema-validation) cannot start a hub whose operator secret
changes on restart, whose SMS go nowhere, or whose signing key is generated per pod."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from govhub_exchange.settings import ExchangeSettings
from govhub_sms.settings import SmsSettings


def production(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "environment": "production",
        "database_url": "postgresql://db/govhub",
        "jwt_public_key_file": tmp_path / "public.pem",
        "console_client_secret": "c" * 32,
        **extra,
    }


def test_exchange_refuses_a_generated_operator_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GOVHUB_OPERATOR_BOOTSTRAP_SECRET") as err:
        ExchangeSettings.model_validate(
            production(tmp_path, jwt_private_key_file=tmp_path / "private.pem")
        )
    assert "every restart and scale-up" in str(err.value)
    # Explicitly allowed, or given: accepted.
    ExchangeSettings(
        **production(
            tmp_path,
            jwt_private_key_file=tmp_path / "private.pem",
            allow_generated_operator_secret=True,
        )
    )
    ExchangeSettings(
        **production(
            tmp_path,
            jwt_private_key_file=tmp_path / "private.pem",
            operator_bootstrap_secret="x" * 32,
        )
    )


def test_exchange_refuses_a_generated_console_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GOVHUB_CONSOLE_CLIENT_SECRET"):
        ExchangeSettings.model_validate(
            production(
                tmp_path,
                jwt_private_key_file=tmp_path / "private.pem",
                operator_bootstrap_secret="x" * 32,
                console_client_secret=None,
            )
        )


def test_exchange_refuses_a_generated_signing_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GOVHUB_JWT_PRIVATE_KEY_FILE"):
        ExchangeSettings.model_validate(production(tmp_path, operator_bootstrap_secret="x" * 32))


def test_sms_gateway_refuses_the_log_provider(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="`log` SMS provider"):
        SmsSettings.model_validate(production(tmp_path))  # the default providers: [log]
    smpp = [{"name": "carrier", "kind": "smpp", "host": "smsc.example", "system_id": "gov"}]
    assert (
        SmsSettings.model_validate(production(tmp_path, sms_providers=smpp)).sms_providers[0].kind
        == "smpp"
    )
    with pytest.raises(ValidationError, match="log"):
        SmsSettings.model_validate(
            production(tmp_path, sms_providers=[*smpp, {"name": "x", "kind": "log"}])
        )
    SmsSettings.model_validate(production(tmp_path, sms_allow_log_provider=True))


def test_development_keeps_its_conveniences() -> None:
    assert (
        ExchangeSettings.model_validate({"environment": "development"}).operator_bootstrap_secret
        is None
    )
    assert SmsSettings.model_validate({"environment": "development"}).sms_providers[0].kind == "log"


def test_the_environment_variables_are_the_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The names the chart sets when a value allows a development default.
    for name, value in production(tmp_path).items():
        monkeypatch.setenv(f"GOVHUB_{name.upper()}", str(value))
    monkeypatch.setenv("GOVHUB_JWT_PRIVATE_KEY_FILE", str(tmp_path / "private.pem"))
    monkeypatch.setenv("GOVHUB_ALLOW_GENERATED_OPERATOR_SECRET", "true")
    monkeypatch.setenv("GOVHUB_SMS_ALLOW_LOG_PROVIDER", "true")
    assert ExchangeSettings().allow_generated_operator_secret is True
    assert SmsSettings().sms_allow_log_provider is True
