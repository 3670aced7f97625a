"""The exchange service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

from pathlib import Path

from govhub_common.service import ServiceSpec

from govhub_exchange.settings import ExchangeSettings

SCHEMA = "exchange"

SERVICE = ServiceSpec(
    name="exchange",
    prefix="/exchange",
    schema=SCHEMA,
    title="exchange",
    description="Agencies, data catalog, subscriptions, record exchange and audit (信息共享交换).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=ExchangeSettings,
)
