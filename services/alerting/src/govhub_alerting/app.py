"""The alerting service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

from pathlib import Path

from govhub_common.service import ServiceSpec

from govhub_alerting.settings import AlertingSettings

SCHEMA = "alerting"

SERVICE = ServiceSpec(
    name="alerting",
    prefix="/alerting",
    schema=SCHEMA,
    title="alerting",
    description="Warning rules, timers, warnings as cases and reminders (信息预警).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=AlertingSettings,
)
