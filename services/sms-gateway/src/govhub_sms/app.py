"""The sms-gateway service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

from pathlib import Path

from govhub_common.service import ServiceSpec

from govhub_sms.settings import SmsSettings

SCHEMA = "sms"

SERVICE = ServiceSpec(
    name="sms-gateway",
    prefix="/sms",
    schema=SCHEMA,
    title="SMS gateway",
    description="SMS templates, sending and delivery reports (短信服务).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=SmsSettings,
)
