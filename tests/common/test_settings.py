from pathlib import Path

import pytest
from pydantic import ValidationError

from govhub_common.settings import CommonSettings


def test_reads_govhub_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVHUB_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("GOVHUB_BUS_DELIVERY_LIMIT", "7")
    settings = CommonSettings()
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.bus_delivery_limit == 7


def test_production_refuses_development_defaults() -> None:
    with pytest.raises(ValidationError) as err:
        CommonSettings(environment="production")
    message = str(err.value)
    assert "GOVHUB_DATABASE_URL" in message
    assert "GOVHUB_JWT_PUBLIC_KEY_FILE" in message


def test_production_refuses_a_short_operator_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 24 characters"):
        CommonSettings(
            environment="production",
            database_url="postgresql://db/govhub",
            jwt_public_key_file=tmp_path / "pub.pem",
            operator_bootstrap_secret="short",
        )


def test_production_refuses_to_delete_queues_at_stop(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GOVHUB_AMQP_DELETE_QUEUES_AT_STOP"):
        CommonSettings(
            environment="production",
            database_url="postgresql://db/govhub",
            jwt_public_key_file=tmp_path / "pub.pem",
            amqp_delete_queues_at_stop=True,
        )


def test_production_accepts_explicit_configuration(tmp_path: Path) -> None:
    settings = CommonSettings(
        environment="production",
        database_url="postgresql://db/govhub",
        jwt_public_key_file=tmp_path / "pub.pem",
    )
    assert not settings.is_development
