"""Bus handlers: exchange records of mapped topics feed the golden records; the exchange's
catalog events keep the registry's copy of the catalog that mappings are checked against;
its archived segments take what the registry kept of their records with them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.catalog_events import CATALOG_EVENTS
from govhub_common.event_contracts import read_header
from govhub_common.event_contracts.exchange import RecordsPublished
from govhub_common.events import CloudEvent
from govhub_common.log_events import LOG_ARCHIVED, live_log_starts
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_registry.ingest.retention import forget_archived
from govhub_registry.ingest.service import business_times, ingest_published
from govhub_registry.mappings.service import learn_catalog
from govhub_registry.state import registry_state


def registry_consumers(ctx: ServiceContext) -> list[Consumer]:
    store = registry_state(ctx).mapping

    async def on_records(session: AsyncSession, event: CloudEvent) -> None:
        # The runtime wraps this in the inbox transaction: a replayed event is a no-op. The
        # topic's mapping is read in that transaction, so a mapping changed through the API
        # applies to every record ingested after the change commits.
        # The batch's topic and publisher by the contract; its records are read one by one
        # by the topic's mapping, which keeps one it cannot read with the reason
        # (registry.unmapped_record) instead of dropping it.
        published, records = read_header(event, RecordsPublished, "records")
        mapping = await store.topic(session, published.topic)
        if mapping is not None:
            # In simulation mode the conflicts the records raise or close are stamped with
            # their business time (the replayed moment), not the wall clock's.
            await ingest_published(
                session,
                topic=published.topic,
                publisher=published.publisher,
                records=records,
                mapping=mapping,
                now=ctx.clock.stamp(*business_times(records)),
            )

    async def on_catalog(session: AsyncSession, event: CloudEvent) -> None:
        await learn_catalog(session, event)

    async def on_archived(session: AsyncSession, event: CloudEvent) -> None:
        await forget_archived(session, live_log_starts(event))

    # Every topic's records: a mapping may be created for any topic at any time.
    return [
        Consumer("records", ["exchange.record.published.*"], on_records),
        Consumer("catalog", list(CATALOG_EVENTS), on_catalog),
        # The exchange's retention: what left its live log leaves the registry's history.
        Consumer("retention", [LOG_ARCHIVED], on_archived),
    ]
