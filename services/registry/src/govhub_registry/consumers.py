"""Bus handlers: exchange records of mapped topics feed the golden records."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_registry.ingest.mapping import Mapping
from govhub_registry.ingest.service import ingest_published


def registry_consumers(ctx: ServiceContext) -> list[Consumer]:
    mapping: Mapping = ctx.state["mapping"]

    async def on_records(session: AsyncSession, event: CloudEvent) -> None:
        # The runtime wraps this in the inbox transaction: a replayed event is a no-op.
        if isinstance(event.data, dict):
            await ingest_published(session, event_data=event.data, mapping=mapping)

    patterns = [f"exchange.record.published.{topic}" for topic in mapping.topics]
    return [Consumer("records", patterns, on_records)]
