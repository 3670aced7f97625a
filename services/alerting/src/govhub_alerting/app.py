"""The alerting service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import sqlalchemy as sa
from fastapi import APIRouter

from govhub_alerting.consumers import consumers
from govhub_alerting.engine.history import prune_expired_records
from govhub_alerting.engine.routes import router as engine_router
from govhub_alerting.engine.sweep import sweep
from govhub_alerting.rules.routes import router as rules_router
from govhub_alerting.rules.service import (
    announce_every_rule,
    city_rules,
    install_city_rules,
    known_city_topics,
    update_file_rules,
)
from govhub_alerting.settings import AlertingSettings
from govhub_alerting.stats.routes import router as stats_router
from govhub_alerting.stats.service import refresh_gauges
from govhub_alerting.warnings.routes import router as warnings_router
from govhub_common.runtime import ServiceContext
from govhub_common.service import ServiceSpec

SCHEMA = "alerting"

log = logging.getLogger("govhub.alerting")


def routers() -> list[APIRouter]:
    return [rules_router, engine_router, warnings_router, stats_router]


async def startup(ctx: ServiceContext) -> None:
    settings: AlertingSettings = ctx.settings
    rules = city_rules(settings.city_files)  # a mistake in the files stops the start here
    changed: list[str] = []
    async with ctx.db.session() as session:
        if rules:
            # Replicas starting together install the files once.
            await session.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext('alerting.rules'))")
            )
            # A changed file updates the rules the hub has; the others come when the hub has
            # one of their topics (now, or at its catalog event or first records).
            changed = await update_file_rules(
                session, rules=rules, contact_attributes=settings.contact_attributes
            )
            changed += await install_city_rules(
                session,
                rules=rules,
                topics=await known_city_topics(session),
                contact_attributes=settings.contact_attributes,
            )
        # Services that subscribed after rules were made (the exchange's scorecard) learn
        # every rule, as alerting learns the catalog from the exchange's start.
        await announce_every_rule(session)
    if changed:
        log.info("rules installed or updated from the city's files: %s", ", ".join(changed))


async def scheduler(ctx: ServiceContext) -> None:
    """Fire due timers as of now() on a schedule; replicas share the work (SKIP LOCKED)."""
    settings: AlertingSettings = ctx.settings
    # In simulation mode timers fire only when POST /v1/evaluate says what time it is.
    if settings.alerting_sweep_interval_seconds <= 0 or ctx.clock.simulated:
        return
    while True:
        await sweep(
            ctx.db,
            as_of=ctx.clock.now(),
            batch_size=settings.alerting_sweep_batch_size,
            workers=settings.alerting_sweep_workers,
        )
        async with ctx.db.session() as session:
            await refresh_gauges(session)
        await prune_expired_records(ctx.db, settings.alerting_record_retention_days)
        await asyncio.sleep(settings.alerting_sweep_interval_seconds)


SERVICE = ServiceSpec(
    name="alerting",
    prefix="/alerting",
    schema=SCHEMA,
    title="alerting",
    description="Warning rules, timers, warnings as cases and reminders (信息预警).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=AlertingSettings,
    routers=routers,
    consumers=consumers,
    background=[scheduler],
    startup=startup,
)
