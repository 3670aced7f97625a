"""Bus handlers: record events and deaths become facts, timers and warnings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.ingest import ingest_event
from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer

PATTERNS = ("exchange.record.published.*", "registry.person.deceased")


def consumers(ctx: ServiceContext) -> list[Consumer]:
    async def on_event(session: AsyncSession, event: CloudEvent) -> None:
        await ingest_event(session, event, now=ctx.clock.now())

    return [Consumer("facts", PATTERNS, on_event)]
