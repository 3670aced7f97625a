"""The dry run: the warnings a rule would raise over every stored fact, whatever its kind.

Each kind's SQL is its module in rules/kinds/ (its candidates, and the absence kind's timers
and compliance); this reads the candidates without acting on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.rules.kinds import kind_of
from govhub_alerting.rules.kinds.sql import business_today
from govhub_alerting.rules.service import StoredRule


async def would_raise(
    session: AsyncSession, *, stored: StoredRule, as_of: datetime, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The warnings the rule would raise over all stored facts as of a time, without
    raising them: (how many, the first `limit`)."""
    rule = stored.rule
    today = business_today(as_of)
    candidates = kind_of(rule).candidates(rule, None)
    sql = f"WITH {candidates.sql}"
    rows = await session.execute(
        sa.text(
            sql
            + """
            , listed AS (
                SELECT c.* FROM candidates c
                WHERE NOT EXISTS (SELECT 1 FROM alerting.warnings w WHERE w.rule_id = :rule_id
                        AND w.subject = c.subject AND w.status <> 'resolved')
                  AND NOT EXISTS (SELECT 1 FROM alerting.silences s WHERE s.rule_id = :rule_id
                        AND s.subject = c.subject AND s.until >= CAST(:today AS date))
            )
            SELECT (SELECT count(*) FROM listed) AS total, l.*
            FROM (SELECT * FROM listed ORDER BY trigger_date, subject LIMIT :limit) l
            RIGHT JOIN (SELECT 1) one ON true
            """
        ),
        {**candidates.params, "rule_id": rule.id, "today": today, "limit": limit},
    )
    found = list(rows)
    total = int(found[0].total) if found else 0
    listed = [
        {
            "subject": r.subject,
            "trigger_date": r.trigger_date,
            "due_date": r.due_date,
            "evidence": r.evidence,
        }
        for r in found
        if r.subject is not None
    ]
    return total, listed
