"""SQL every kind shares: a fact as a warning's evidence, the facts that just arrived, and the
statement that raises a kind's candidates as warnings.

Every function takes `fact_ids`: the facts that just arrived (the event path), or None for
all stored facts (backfill and dry run). Nothing here runs a query per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import WARNING_COLUMNS
from govhub_common.clock import business_date

if TYPE_CHECKING:  # rules/service.py imports the kinds (through the catalog)
    from govhub_alerting.rules.service import StoredRule

# A fact as a warning's evidence: the record's exchange sequence and the fields kept.
EVIDENCE = (
    "jsonb_build_object('topic', {f}.topic, 'seq', {f}.seq, 'publisher', {f}.publisher, "
    "'subject', {f}.subject, 'business_date', {f}.business_date, 'data', {f}.data)"
)


def arrived_facts(fact_ids: Sequence[int] | None) -> str:
    """The facts to judge, as a FROM item: those that just arrived, found by their ids, or all
    stored facts (None). The ids' lookup stands alone (OFFSET 0): beside the statement's own
    condition on the view, PostgreSQL also read the view's index, every fact of the view,
    whenever its statistics lagged a table growing fast (a city's first load)."""
    if fact_ids is None:
        return "alerting.facts"
    return "(SELECT * FROM alerting.facts WHERE id = ANY(CAST(:ids AS bigint[])) OFFSET 0)"


def evidence(alias: str) -> str:
    return EVIDENCE.format(f=alias)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def business_today(now: datetime) -> date:
    return business_date(now)


@dataclass(frozen=True)
class Candidates:
    """A kind's `candidates` CTE, one row per warning it would raise (subject, trigger_date,
    due_date, evidence), and the parameters it reads."""

    sql: str
    params: dict[str, Any]


async def raise_candidates(
    session: AsyncSession,
    *,
    stored: StoredRule,
    candidates: Candidates,
    fact_ids: Sequence[int] | None,
    now: datetime,
) -> list[Any]:
    """One warning per candidate subject, none while one is open or the subject is silenced;
    returns the warnings raised."""
    rule = stored.rule
    rows = await session.execute(
        sa.text(
            f"""
            WITH {candidates.sql}, raised AS (
                INSERT INTO alerting.warnings (rule_id, rule_version, kind, title, severity,
                    subject, assigned_agency, status, trigger_date, due_date, raised_at, evidence)
                SELECT :rule_id, :version, :kind, :title, :severity, c.subject, :agency, 'open',
                    c.trigger_date, c.due_date, :now, c.evidence
                FROM candidates c
                WHERE NOT EXISTS (SELECT 1 FROM alerting.silences s WHERE s.rule_id = :rule_id
                    AND s.subject = c.subject AND s.until >= CAST(:today AS date))
                ON CONFLICT (rule_id, subject) WHERE status <> 'resolved' DO NOTHING
                RETURNING *
            ), history AS (
                INSERT INTO alerting.warning_history (warning_id, to_status, actor, at)
                SELECT id, 'open', 'alerting', :now FROM raised
            )
            SELECT {WARNING_COLUMNS} FROM raised
            """
        ),
        {
            **candidates.params,
            "ids": list(fact_ids) if fact_ids is not None else None,
            "rule_id": rule.id,
            "version": stored.version,
            "kind": rule.kind,
            "title": rule.title,
            "severity": rule.severity,
            "agency": rule.assigned_agency,
            "now": now,
            "today": business_today(now),
        },
    )
    return list(rows)
