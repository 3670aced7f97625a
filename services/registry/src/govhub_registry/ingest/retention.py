"""The registry's history follows the exchange's retention (docs/registry.md, "Retention"):
when segments of a topic's log are archived (`exchange.log.archived`), what the registry
kept of those records goes too, by the same boundary (the topic's live log start):
- their assertions (the as-of history), but for the statements that still stand as an
  agency's current claim on a golden record: the base registry's current state is not
  history, and the record behind it stays in the claims until the agency states it again;
- the records no mapping could place (unmapped_record);
- matching decisions and decided reviews of those records; a review still pending stays,
  as a case officer's open work.

Set-based, one statement per table; the event may come again (a replay deletes nothing)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection

log = logging.getLogger("govhub.registry.retention")

# An assertion stands while its seq is its agency's claim of some attribute of its subject:
# claims (text) are {attribute: {agency: [value, rank, valid_from, seq]}}. Seqs are per
# topic and a claim does not name its topic: a claim of the same seq from another of the
# agency's topics keeps the assertion too (kept, never lost).
_ASSERTIONS = """
WITH gone AS (
    DELETE FROM registry.assertion a
    WHERE a.source_topic = $1 AND a.seq < $2
      AND NOT EXISTS (
        SELECT 1
        FROM (SELECT g.claims FROM registry.legal_entity g
              WHERE a.subject_kind = 'legal_entity' AND g.uscc = a.subject_id
              UNION ALL
              SELECT g.claims FROM registry.person g
              WHERE a.subject_kind = 'person' AND g.id_number = a.subject_id) g,
             jsonb_each(g.claims::jsonb) c
        WHERE (c.value -> a.source_agency ->> 3)::bigint = a.seq)
    RETURNING 1
)
SELECT count(*) FROM gone
"""
_UNMAPPED = """
WITH gone AS (DELETE FROM registry.unmapped_record WHERE topic = $1 AND seq < $2 RETURNING 1)
SELECT count(*) FROM gone
"""
_REVIEWS = """
WITH gone AS (
    DELETE FROM registry.match_review
    WHERE topic = $1 AND seq < $2 AND status <> 'pending'
    RETURNING 1
)
SELECT count(*) FROM gone
"""
_DECISIONS = """
WITH gone AS (
    DELETE FROM registry.match_decision d
    WHERE d.topic = $1 AND d.seq < $2
      AND NOT EXISTS (SELECT 1 FROM registry.match_review r
                      WHERE r.topic = d.topic AND r.seq = d.seq AND r.status = 'pending')
    RETURNING 1
)
SELECT count(*) FROM gone
"""


@dataclass
class Forgotten:
    assertions: int = 0
    unmapped: int = 0
    reviews: int = 0
    decisions: int = 0


async def forget_archived(session: AsyncSession, live_from: dict[str, int]) -> None:
    """Delete what the registry derived from the records of each topic before its live log
    (`live_from`: topic -> first live seq)."""
    raw = await raw_connection(session)
    for topic, boundary in live_from.items():
        forgotten = Forgotten(
            assertions=await raw.fetchval(_ASSERTIONS, topic, boundary),
            unmapped=await raw.fetchval(_UNMAPPED, topic, boundary),
            reviews=await raw.fetchval(_REVIEWS, topic, boundary),
            decisions=await raw.fetchval(_DECISIONS, topic, boundary),
        )
        log.info("topic %s archived before seq %d, forgotten: %s", topic, boundary, forgotten)
