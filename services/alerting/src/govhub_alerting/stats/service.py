"""Figures per rule and period: what the founding document reports (warnings found, share
followed up, registration rate). The period is the business date of the triggering fact,
so each figure describes one cohort (the enterprises licensed in March, say)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.metrics import (
    FOLLOW_UP_RATIO,
    REMINDERS_DUE,
    REMINDERS_UNSENT,
    TIMERS_PENDING,
    WARNINGS_OPEN,
    WARNINGS_RAISED,
    WARNINGS_RESOLVED,
)
from govhub_alerting.rules.kinds import KINDS, kind_of
from govhub_alerting.rules.service import list_rules
from govhub_common.metrics import initialise

STATS = """
WITH rules AS (
    SELECT r.id, v.definition->>'kind' AS kind, v.definition->>'title' AS title,
        v.definition->>'assigned_agency' AS agency
    FROM alerting.rules r
    JOIN alerting.rule_versions v ON v.rule_id = r.id AND v.version = r.current_version
    WHERE (CAST(:rule AS text) IS NULL OR r.id = :rule)
      AND (CAST(:agency AS text) IS NULL OR v.definition->>'assigned_agency' = :agency)
      AND (CAST(:after AS text) IS NULL OR r.id > :after)
    ORDER BY r.id LIMIT :limit
), timer_figures AS (
    SELECT t.rule_id,
        count(*) FILTER (WHERE t.kind = 'reminder' AND t.outcome = 'sent') AS reminders_sent,
        count(*) FILTER (WHERE t.kind = 'reminder' AND t.outcome = 'no_recipient')
            AS reminders_without_recipient
    FROM alerting.timers t JOIN rules ON rules.id = t.rule_id
    WHERE t.trigger_date BETWEEN :from AND :to
    GROUP BY t.rule_id
), warning_figures AS (
    SELECT w.rule_id,
        count(*) AS warnings_raised,
        count(*) FILTER (WHERE w.status <> 'resolved') AS warnings_open,
        count(*) FILTER (WHERE w.resolution = 'complied_late') AS complied_late,
        count(*) FILTER (WHERE w.resolution = 'false_positive') AS false_positives
    FROM alerting.warnings w JOIN rules ON rules.id = w.rule_id
    WHERE w.trigger_date BETWEEN :from AND :to
    GROUP BY w.rule_id
)
SELECT rules.id AS rule_id, rules.kind, rules.title, rules.agency AS assigned_agency,
    coalesce(t.reminders_sent, 0) AS reminders_sent,
    coalesce(t.reminders_without_recipient, 0) AS reminders_without_recipient,
    coalesce(w.warnings_raised, 0) AS warnings_raised,
    coalesce(w.warnings_open, 0) AS warnings_open,
    coalesce(w.complied_late, 0) AS complied_late,
    coalesce(w.false_positives, 0) AS false_positives
FROM rules LEFT JOIN timer_figures t ON t.rule_id = rules.id
LEFT JOIN warning_figures w ON w.rule_id = rules.id
ORDER BY rules.id
"""


# The rules a caller sees, as STATS selects them.
RULES = """
SELECT r.id AS rule_id, v.definition->>'kind' AS kind, v.definition->>'title' AS title,
    v.definition->>'assigned_agency' AS assigned_agency
FROM alerting.rules r
JOIN alerting.rule_versions v ON v.rule_id = r.id AND v.version = r.current_version
WHERE (CAST(:rule AS text) IS NULL OR r.id = :rule)
  AND (CAST(:agency AS text) IS NULL OR v.definition->>'assigned_agency' = :agency)
"""

# The same figures per rule and month of the trigger's business date, for a batch of rules.
STATS_BY_MONTH = """
WITH rules AS (
    SELECT id FROM unnest(CAST(:rules AS text[])) AS id
), timer_figures AS (
    SELECT t.rule_id, to_char(t.trigger_date, 'YYYY-MM') AS month,
        count(*) FILTER (WHERE t.kind = 'reminder' AND t.outcome = 'sent') AS reminders_sent,
        count(*) FILTER (WHERE t.kind = 'reminder' AND t.outcome = 'no_recipient')
            AS reminders_without_recipient
    FROM alerting.timers t JOIN rules ON rules.id = t.rule_id
    WHERE t.trigger_date BETWEEN :from AND :to
    GROUP BY 1, 2
), warning_figures AS (
    SELECT w.rule_id, to_char(w.trigger_date, 'YYYY-MM') AS month,
        count(*) AS warnings_raised,
        count(*) FILTER (WHERE w.status <> 'resolved') AS warnings_open,
        count(*) FILTER (WHERE w.resolution = 'complied_late') AS complied_late,
        count(*) FILTER (WHERE w.resolution = 'false_positive') AS false_positives
    FROM alerting.warnings w JOIN rules ON rules.id = w.rule_id
    WHERE w.trigger_date BETWEEN :from AND :to
    GROUP BY 1, 2
)
SELECT coalesce(t.rule_id, w.rule_id) AS rule_id, coalesce(t.month, w.month) AS month,
    coalesce(t.reminders_sent, 0) AS reminders_sent,
    coalesce(t.reminders_without_recipient, 0) AS reminders_without_recipient,
    coalesce(w.warnings_raised, 0) AS warnings_raised,
    coalesce(w.warnings_open, 0) AS warnings_open,
    coalesce(w.complied_late, 0) AS complied_late,
    coalesce(w.false_positives, 0) AS false_positives
FROM timer_figures t FULL JOIN warning_figures w
    ON w.rule_id = t.rule_id AND w.month = t.month
"""

# The figures a month without timers or warnings has.
_ZERO = {
    "reminders_sent": 0,
    "reminders_without_recipient": 0,
    "warnings_raised": 0,
    "warnings_open": 0,
    "complied_late": 0,
    "false_positives": 0,
}


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


async def rule_stats(
    session: AsyncSession,
    *,
    rule_id: str | None,
    agency: str | None,
    period_from: date,
    period_to: date,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The figures of up to `limit` rules by id, after the rule `after`."""
    rows = await session.execute(
        sa.text(STATS),
        {
            "rule": rule_id,
            "agency": agency,
            "from": period_from,
            "to": period_to,
            "after": after,
            "limit": limit,
        },
    )
    rules = {stored.id: stored.rule for stored in await list_rules(session)}
    out = []
    for row in rows:
        figures = dict(row._mapping)
        rule = rules.get(figures["rule_id"])
        # The triggers of a kind with deadlines and those complied with on time.
        figures["triggers"], figures["complied_on_time"] = (
            await kind_of(rule).cohort(
                session, rule=rule, period_from=period_from, period_to=period_to
            )
            if rule is not None
            else (0, 0)
        )
        out.append(_rates(figures))
    return out


def _rates(figures: dict[str, Any]) -> dict[str, Any]:
    # A warning resolved as a false positive was complied with on time, only reported
    # late: the facts count it on time.
    on_time = figures["complied_on_time"]
    figures["follow_up_rate"] = _ratio(
        figures["complied_late"], figures["warnings_raised"] - figures["false_positives"]
    )
    figures["compliance_rate"] = (
        _ratio(on_time + figures["complied_late"], figures["triggers"])
        if KINDS[figures["kind"]].has_deadlines
        else None
    )
    return figures


async def rule_stats_by_month(
    session: AsyncSession,
    *,
    rule_id: str | None,
    agency: str | None,
    period_from: date,
    period_to: date,
    after: tuple[str, str] | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` rows of figures per rule and month of the period (the trigger's business
    date, `YYYY-MM`), by rule id then month, after the row `after` (rule, month). The cohort
    is the whole period's, month by month: a month's figures are those of the triggers dated
    in it, so the months of a rule add up to its figures for the period. A month with no
    trigger, reminder or warning has no row."""
    header = {
        row.rule_id: dict(row._mapping)
        for row in await session.execute(sa.text(RULES), {"rule": rule_id, "agency": agency})
    }
    stored = {s.id: s.rule for s in await list_rules(session)}
    ids = sorted(r for r in header if after is None or r >= after[0])
    out: list[dict[str, Any]] = []
    # Rules a batch at a time until the page is full: one statement per batch for the
    # timers and warnings, one per rule for its cohort, each grouped by month.
    for start in range(0, len(ids), max(limit, 1)):
        batch = ids[start : start + max(limit, 1)]
        months: dict[tuple[str, str], dict[str, Any]] = {}
        rows = await session.execute(
            sa.text(STATS_BY_MONTH), {"rules": batch, "from": period_from, "to": period_to}
        )
        for row in rows:
            months[(row.rule_id, row.month)] = {
                **dict(row._mapping),
                "triggers": 0,
                "complied_on_time": 0,
            }
        for rid in batch:
            rule = stored.get(rid)
            if rule is None:
                continue
            cohorts = await kind_of(rule).cohort_by_month(
                session, rule=rule, period_from=period_from, period_to=period_to
            )
            for month, (triggers, on_time) in cohorts.items():
                entry = months.setdefault((rid, month), {"rule_id": rid, "month": month, **_ZERO})
                entry["triggers"], entry["complied_on_time"] = triggers, on_time
        for key in sorted(months):
            if after is not None and key <= after:
                continue
            names = header[key[0]]
            figures = {
                **months[key],
                "kind": names["kind"],
                "title": names["title"],
                "assigned_agency": names["assigned_agency"],
            }
            out.append(_rates(figures))
        if len(out) >= limit:
            break
    return out[:limit]


# Label values of the counters known in advance (warnings/schemas.py, engine/sweep.py).
RESOLUTIONS = ("complied_late", "exempt", "false_positive", "penalised", "other")
UNSENT_REASONS = ("no_recipient",)


async def refresh_gauges(session: AsyncSession) -> None:
    """Gauges are read from the database, so every replica reads the same figures; only the
    replica holding the lease exports them (govhub_common.gauge_lease). Every replica gives
    its counters a series at zero for every rule."""
    rules = (await session.execute(sa.text("SELECT id FROM alerting.rules"))).scalars().all()
    for rule in rules:
        initialise(WARNINGS_RAISED, (rule,))
        initialise(REMINDERS_DUE, (rule,))
        initialise(WARNINGS_RESOLVED, *((rule, r) for r in RESOLUTIONS))
        initialise(REMINDERS_UNSENT, *((rule, r) for r in UNSENT_REASONS))
    pending = (
        await session.execute(
            sa.text(
                "SELECT count(*) FROM alerting.timers "
                "WHERE fired_at IS NULL AND cancelled_at IS NULL"
            )
        )
    ).scalar_one()
    TIMERS_PENDING.set(pending)
    open_rows = await session.execute(
        sa.text(
            "SELECT rule_id, assigned_agency, count(*) FILTER (WHERE status <> 'resolved') AS n "
            "FROM alerting.warnings GROUP BY rule_id, assigned_agency"
        )
    )
    for row in open_rows:
        WARNINGS_OPEN.labels(row.rule_id, row.assigned_agency).set(row.n)
    ratios = await session.execute(
        sa.text(
            "SELECT rule_id, count(*) FILTER (WHERE resolution = 'complied_late') AS late, "
            "count(*) FILTER (WHERE resolution IS DISTINCT FROM 'false_positive') AS raised "
            "FROM alerting.warnings GROUP BY rule_id"
        )
    )
    for row in ratios:
        FOLLOW_UP_RATIO.labels(row.rule_id).set(row.late / row.raised if row.raised else 0.0)
