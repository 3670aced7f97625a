"""Bus handlers of the exchange."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_exchange.hub import append_warnings


def consumers(ctx: ServiceContext) -> Sequence[Consumer]:
    async def warning_changed(session: AsyncSession, event: CloudEvent) -> None:
        warnings = (event.data or {}).get("warnings") or []
        if warnings:
            await append_warnings(session, list(warnings))

    return [Consumer("hub-warnings", ["alerting.warning.*"], warning_changed)]


# "record-notify" woke replicas, then audited publishes, from the exchange's own batch
# events; both are done without the broker now (NOTIFY and the publish_batches table).
RETIRED_CONSUMERS = ("record-notify",)
