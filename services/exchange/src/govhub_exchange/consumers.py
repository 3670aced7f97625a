"""Bus handlers of the exchange."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.alerting import HubWarning, Warnings
from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_exchange.hub import append_warnings

log = logging.getLogger("govhub.exchange.consumers")


def consumers(ctx: ServiceContext) -> Sequence[Consumer]:
    async def warning_changed(session: AsyncSession, event: CloudEvent) -> None:
        warnings = read_batch(event, Warnings, "warnings", HubWarning)
        if warnings.faults:
            log.warning(
                "event %s: %d warnings skipped: %s",
                event.id,
                len(warnings.faults),
                warnings.faults[0],
            )
        if warnings.items:
            await append_warnings(session, warnings.items)

    return [Consumer("hub-warnings", ["alerting.warning.*"], warning_changed)]


# "record-notify" woke replicas, then audited publishes, from the exchange's own batch
# events; both are done without the broker now (NOTIFY and the publish_batches table).
RETIRED_CONSUMERS = ("record-notify",)
