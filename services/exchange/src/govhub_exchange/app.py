"""The exchange service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter

from govhub_common.persons import console_client_secret
from govhub_common.runtime import ServiceContext
from govhub_common.service import ServiceSpec
from govhub_exchange.background import (
    audit_exchanges,
    maintain_log,
    publish_scorecards,
    refresh_gauges,
    sign_audit_head,
)
from govhub_exchange.catalog.service import announce_catalog
from govhub_exchange.cli import make_cli
from govhub_exchange.consumers import RETIRED_CONSUMERS, consumers
from govhub_exchange.delivery.notify import wake_on_publish
from govhub_exchange.delivery.webhooks import run_webhooks
from govhub_exchange.hub import ensure_warnings_topic
from govhub_exchange.identity.service import ensure_console_client, ensure_hub_operator
from govhub_exchange.quality.publication import ensure_scorecards_topic
from govhub_exchange.settings import ExchangeSettings
from govhub_exchange.state import make_state
from govhub_exchange.subscriptions.service import announce_grants

SCHEMA = "exchange"


def routers() -> list[APIRouter]:
    from govhub_exchange.audit.routes import router as audit
    from govhub_exchange.catalog.routes import router as catalog
    from govhub_exchange.delivery.routes import router as delivery
    from govhub_exchange.identity.routes import router as identity
    from govhub_exchange.publishing.routes import router as publishing
    from govhub_exchange.quality.routes import router as scorecards
    from govhub_exchange.subscriptions.routes import router as subscriptions

    return [identity, catalog, subscriptions, publishing, delivery, audit, scorecards]


async def startup(ctx: ServiceContext) -> None:
    settings: ExchangeSettings = ctx.settings
    configured = settings.operator_bootstrap_secret
    async with ctx.db.session() as session:
        await ensure_hub_operator(
            session,
            configured_secret=configured.get_secret_value() if configured else None,
            home=Path(settings.home),
            token_ttl_seconds=settings.longest_token_ttl_seconds,
        )
        await ensure_console_client(
            session,
            secret=await asyncio.to_thread(console_client_secret, settings),
            token_ttl_seconds=settings.longest_token_ttl_seconds,
        )
        await ensure_warnings_topic(session)
        await ensure_scorecards_topic(session)
        # Services that keep a copy of the catalog learn the topics made before they
        # subscribed (an upgrade); they apply the announcement idempotently.
        await announce_catalog(session)
        # And the grants made before they subscribed (alerting's evidence shows an agency
        # only what its approved subscriptions grant it).
        await announce_grants(session)


SERVICE = ServiceSpec(
    name="exchange",
    prefix="/exchange",
    schema=SCHEMA,
    title="exchange",
    description="Agencies, data catalog, subscriptions, record exchange and audit (信息共享交换).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=ExchangeSettings,
    routers=routers,
    consumers=consumers,
    retired_consumers=RETIRED_CONSUMERS,
    background=[
        run_webhooks,
        sign_audit_head,
        refresh_gauges,
        audit_exchanges,
        wake_on_publish,
        publish_scorecards,
        maintain_log,
    ],
    state=make_state,
    startup=startup,
    cli=make_cli,
    append_only_tables=("audit_log", "audit_checkpoints"),
)
