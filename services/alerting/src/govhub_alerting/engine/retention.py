"""Alerting's history follows the exchange's retention (docs/alerting.md, "Retention"): when
segments of a topic's log are archived (`exchange.log.archived`), the records alerting kept
of them and the facts rules read them as go too, by the same boundary (the topic's live log
start). A fact that a pending timer was set from stays until the timer ends: the warning it
may raise shows it as evidence. Warnings keep their evidence: a case file is not history.

Set-based, one statement per table; the event may come again (a replay deletes nothing).
`alerting_record_retention_days` (engine/history.py) still caps how long any record is kept
for rules not yet written, whatever its topic's retention."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection

log = logging.getLogger("govhub.alerting.retention")

_RECORDS = """
WITH gone AS (DELETE FROM alerting.records WHERE topic = $1 AND seq < $2 RETURNING 1)
SELECT count(*) FROM gone
"""
_FACTS = """
WITH gone AS (
    DELETE FROM alerting.facts f
    WHERE f.topic = $1 AND f.seq < $2
      AND NOT EXISTS (SELECT 1 FROM alerting.timers t
                      WHERE t.trigger_fact_id = f.id
                        AND t.fired_at IS NULL AND t.cancelled_at IS NULL)
    RETURNING 1
)
SELECT count(*) FROM gone
"""


async def forget_archived(session: AsyncSession, live_from: dict[str, int]) -> int:
    """Delete the records and facts of the records of each topic before its live log
    (`live_from`: topic -> first live seq); how many rows went."""
    raw = await raw_connection(session)
    total = 0
    for topic, boundary in live_from.items():
        records = await raw.fetchval(_RECORDS, topic, boundary)
        facts = await raw.fetchval(_FACTS, topic, boundary)
        log.info(
            "topic %s archived before seq %d: %d records and %d facts forgotten",
            topic,
            boundary,
            records,
            facts,
        )
        total += records + facts
    return total
