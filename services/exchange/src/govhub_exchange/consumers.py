"""Bus handlers of the exchange."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.alerting import (
    RULES_ANNOUNCED,
    AnnouncedRule,
    HubWarning,
    RulesAnnounced,
    Warnings,
)
from govhub_common.event_contracts.registry import (
    CONFLICTS_CHANGED,
    ConflictChange,
    ConflictsChanged,
)
from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_exchange.hub import append_warnings
from govhub_exchange.quality import facts

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
            await facts.record_warnings(session, warnings.items)

    async def conflicts_changed(session: AsyncSession, event: CloudEvent) -> None:
        conflicts = read_batch(event, ConflictsChanged, "conflicts", ConflictChange)
        if conflicts.faults:
            log.warning("event %s: %d conflicts skipped", event.id, len(conflicts.faults))
        await facts.record_conflicts(session, conflicts.items)

    async def rules_announced(session: AsyncSession, event: CloudEvent) -> None:
        rules = read_batch(event, RulesAnnounced, "rules", AnnouncedRule)
        if rules.faults:
            log.warning("event %s: %d rules skipped", event.id, len(rules.faults))
        await facts.record_rules(session, rules.items)

    return [
        Consumer("hub-warnings", ["alerting.warning.*"], warning_changed),
        # The facts of the scorecards' consistency and timeliness (docs/quality.md).
        Consumer("quality-conflicts", [CONFLICTS_CHANGED], conflicts_changed),
        Consumer("quality-rules", [RULES_ANNOUNCED], rules_announced),
    ]


# "record-notify" woke replicas, then audited publishes, from the exchange's own batch
# events; both are done without the broker now (NOTIFY and the publish_batches table).
RETIRED_CONSUMERS = ("record-notify",)
