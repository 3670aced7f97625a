"""The exchange's retention on the bus: segments of topics' logs archived to files and
dropped from the live log (docs/exchange.md, "Retention and archive").

The exchange stages `exchange.log.archived` in the transaction that drops a segment, so the
services that keep something of each record (the registry's assertions, alerting's records
and facts) forget it by the same retention, at the same boundary, once the records have
left the live log. Every event carries a batch, `{"segments": [...]}`; a consumer deletes
what it derived from the records of each topic before that topic's `live_from`, so the
events may be applied more than once and in any order (the boundary only moves forward).
"""

from __future__ import annotations

import logging

from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.exchange import LOG_ARCHIVED, ArchivedSegment, LogArchived
from govhub_common.events import CloudEvent

log = logging.getLogger("govhub.log_events")

__all__ = ["LOG_ARCHIVED", "live_log_starts"]


def live_log_starts(event: CloudEvent) -> dict[str, int]:
    """Per topic of the event, the first seq still live: what comes before it is archived
    (an entry that breaks the contract is skipped and logged)."""
    archived = read_batch(event, LogArchived, "segments", ArchivedSegment)
    if archived.faults:
        log.warning(
            "event %s: %d segments skipped: %s", event.id, len(archived.faults), archived.faults[0]
        )
    starts: dict[str, int] = {}
    for segment in archived.items:
        starts[segment.topic] = max(starts.get(segment.topic, 0), segment.live_from)
    return starts
