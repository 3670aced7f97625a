"""Set-based evaluation of each rule kind over the facts.

Every function takes `fact_ids`: the facts that just arrived (the event path), or None for
all stored facts (backfill and dry run). Nothing here runs a query per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import WARNING_COLUMNS
from govhub_alerting.rules.language import (
    AbsenceRule,
    AnyRule,
    ContradictionRule,
    DuplicateRule,
    days_of,
    record_specs,
)
from govhub_alerting.rules.service import StoredRule

# A fact as a warning's evidence: the record's exchange sequence and the fields kept.
EVIDENCE = (
    "jsonb_build_object('topic', {f}.topic, 'seq', {f}.seq, 'publisher', {f}.publisher, "
    "'subject', {f}.subject, 'business_date', {f}.business_date, 'data', {f}.data)"
)


def _only_ids(fact_ids: Sequence[int] | None) -> str:
    """The condition to the facts that just arrived; none for all (a planner-friendly form:
    `:ids IS NULL OR id = ANY(:ids)` would scan every fact)."""
    return "" if fact_ids is None else "AND f.id = ANY(CAST(:ids AS bigint[]))"


def _ev(alias: str) -> str:
    return EVIDENCE.format(f=alias)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# ---------------------------------------------------------------- absence: timers


async def create_timers(
    session: AsyncSession,
    *,
    stored: StoredRule,
    fact_ids: Sequence[int] | None,
    due_after: datetime | None = None,
) -> int:
    """A deadline timer (and one per reminder) for each trigger fact; idempotent. Timers
    whose expected record is already stored are written settled."""
    rule = stored.rule
    assert isinstance(rule, AbsenceRule)
    within = days_of(rule.within)
    steps: list[dict[str, Any]] = [
        {"kind": "deadline", "offset_days": within + 1, "after": rule.within}
    ]
    for reminder in rule.reminders:
        steps.append(
            {
                "kind": "reminder",
                "offset_days": days_of(reminder.after),
                "after": reminder.after,
                "template": reminder.template,
                "recipient_field": reminder.field,
                # Read when the reminder fires, from the contacts projection (sweep.py).
                "registry": rule.reminder_registry(reminder),
                "registry_attribute": reminder.registry_attribute,
                "params": reminder.params,
            }
        )
    result = await session.execute(
        sa.text(
            f"""
            INSERT INTO alerting.timers (rule_id, rule_version, subject, kind, trigger_fact_id,
                trigger_date, deadline_date, due_at, awaited_views, reminder, cancelled_at, outcome)
            SELECT :rule_id, :version, f.subject, s.kind, f.id, f.business_date,
                f.business_date + CAST(:within AS int),
                (f.business_date + s.offset_days)::timestamp AT TIME ZONE 'Asia/Shanghai',
                CAST(:awaited AS text[]),
                CASE WHEN s.kind = 'reminder' THEN jsonb_strip_nulls(jsonb_build_object(
                    'recipient', f.data->>s.recipient_field,
                    'registry', s.registry,
                    'registry_attribute', s.registry_attribute)) || jsonb_build_object(
                    'template', s.template,
                    'params', (SELECT coalesce(jsonb_object_agg(p.key, CASE p.value
                            WHEN '$deadline' THEN to_jsonb((f.business_date + CAST(:within AS int))::text)
                            WHEN '$trigger_date' THEN to_jsonb(f.business_date::text)
                            WHEN '$subject' THEN to_jsonb(f.subject)
                            ELSE f.data->p.value END), '{{}}'::jsonb)
                        FROM jsonb_each_text(s.params) p),
                    'idempotency_key',
                        :rule_id || ':' || f.subject || ':' || f.business_date || ':' || s.after)
                END,
                CASE WHEN c.complied THEN now() END,
                CASE WHEN c.complied THEN
                    CASE WHEN s.kind = 'deadline' THEN 'complied_on_time' ELSE 'skipped' END
                END
            FROM alerting.facts f
            CROSS JOIN jsonb_to_recordset(CAST(:steps AS jsonb)) AS s(kind text,
                offset_days int, after text, template text, recipient_field text, registry text,
                registry_attribute text, params jsonb)
            -- Expected records already stored (out of order, or a backfill): the timer is
            -- settled as it is set, and never enters the due index.
            CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM alerting.facts x
                WHERE x.view = ANY(CAST(:awaited AS text[])) AND x.subject = f.subject
                  AND (s.kind = 'reminder'
                       OR x.business_date <= f.business_date + CAST(:within AS int)))
                AS complied OFFSET 0) c
            WHERE f.view = :view
              {_only_ids(fact_ids)}
              AND f.data @> CAST(:filter AS jsonb)
              {
                ""
                if due_after is None
                else "AND (f.business_date + s.offset_days)::timestamp AT TIME ZONE 'Asia/Shanghai' > :due_after"
            }
            ON CONFLICT DO NOTHING
            """
        ),
        {
            "rule_id": rule.id,
            "version": stored.version,
            "within": within,
            "awaited": [spec.view for spec in rule.expected],
            "steps": _dumps(steps),
            "view": rule.trigger.view,
            "ids": list(fact_ids) if fact_ids is not None else None,
            "filter": _dumps(rule.trigger.filter or {}),
            "due_after": due_after,
        },
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def apply_compliance(
    session: AsyncSession,
    *,
    stored: StoredRule,
    subjects: Sequence[str] | None,
    now: datetime,
) -> list[Any]:
    """Expected records judged by their business dates: pending deadline timers they meet
    are cancelled as complied on time, pending reminders are dropped, and open warnings
    resolve (auto_resolve): complied_late when the first expected record is dated after the
    deadline, false_positive when it was dated in time but arrived after the warning.
    Returns the resolved warnings."""
    rule = stored.rule
    assert isinstance(rule, AbsenceRule)
    params = {
        "rule_id": rule.id,
        "awaited": [spec.view for spec in rule.expected],
        "subjects": list(subjects) if subjects is not None else None,
        "now": now,
    }
    awaited = f"""
        WITH awaited AS (
            SELECT f.subject, min(f.business_date) AS first_date
            FROM alerting.facts f
            WHERE f.view = ANY(CAST(:awaited AS text[]))
              {"" if subjects is None else "AND f.subject = ANY(CAST(:subjects AS text[]))"}
            GROUP BY f.subject
        )
    """
    await session.execute(
        sa.text(
            awaited
            + """
            UPDATE alerting.timers t SET cancelled_at = now(),
                outcome = CASE WHEN t.kind = 'deadline' THEN 'complied_on_time' ELSE 'skipped' END
            FROM awaited a
            WHERE t.rule_id = :rule_id AND t.subject = a.subject
              AND t.fired_at IS NULL AND t.cancelled_at IS NULL
              AND (t.kind = 'reminder' OR a.first_date <= t.deadline_date)
            """
        ),
        params,
    )
    if not rule.auto_resolve:
        return []
    rows = await session.execute(
        sa.text(
            awaited
            + f"""
            , target AS (
                SELECT w.id, w.status AS old_status, a.first_date
                FROM alerting.warnings w JOIN awaited a ON a.subject = w.subject
                WHERE w.rule_id = :rule_id AND w.status <> 'resolved'
                FOR UPDATE OF w
            ), resolved AS (
                UPDATE alerting.warnings w SET status = 'resolved',
                    resolution = CASE WHEN t.first_date > w.due_date
                        THEN 'complied_late' ELSE 'false_positive' END,
                    note = CASE WHEN t.first_date > w.due_date
                        THEN 'expected record dated ' || t.first_date || ', after the deadline'
                        ELSE 'expected record dated ' || t.first_date
                            || ', within the deadline, arrived after the warning' END,
                    resolved_at = :now, updated_at = now()
                FROM target t WHERE w.id = t.id
                RETURNING w.*, t.old_status
            ), history AS (
                INSERT INTO alerting.warning_history
                    (warning_id, from_status, to_status, resolution, note, actor, at)
                SELECT id, old_status, 'resolved', resolution, note, 'alerting', :now
                FROM resolved
            ), on_time AS (
                UPDATE alerting.timers tm SET outcome = 'complied_on_time'
                FROM resolved r
                WHERE tm.id = r.timer_id AND r.resolution = 'false_positive'
            )
            SELECT {WARNING_COLUMNS} FROM resolved
            """
        ),
        params,
    )
    return list(rows)


# ---------------------------------------------------- contradiction and duplicate


def _contradiction_candidates(rule: ContradictionRule, fact_ids: Sequence[int] | None) -> str:
    """(subject, trigger_date, evidence) for subjects with a forbidden record dated after the
    first forbidding one."""
    return f"""
        touched AS (
            SELECT DISTINCT f.subject FROM alerting.facts f
            WHERE f.view = ANY(CAST(:views AS text[]))
              {_only_ids(fact_ids)}
        ), first_forbidding AS (
            SELECT f.subject, min(f.business_date) AS first_date
            FROM alerting.facts f JOIN touched USING (subject)
            WHERE f.view = ANY(CAST(:forbidding AS text[]))
            GROUP BY f.subject
        ), candidates AS (
            SELECT d.subject, min(g.business_date) AS trigger_date, NULL::date AS due_date,
                (SELECT jsonb_agg({_ev("e")} ORDER BY e.business_date, e.seq)
                 FROM alerting.facts e
                 WHERE e.subject = d.subject
                   AND (e.view = ANY(CAST(:forbidding AS text[]))
                        OR (e.view = ANY(CAST(:forbidden AS text[]))
                            AND e.business_date > d.first_date))) AS evidence
            FROM first_forbidding d
            JOIN alerting.facts g ON g.subject = d.subject
                AND g.view = ANY(CAST(:forbidden AS text[])) AND g.business_date > d.first_date
            GROUP BY d.subject, d.first_date
        )
    """


def _group_key(alias: str, same: Sequence[str]) -> str:
    # Field names are checked against [a-z][a-z0-9_]* by the rule model before they get here.
    parts = [f"{alias}.subject"] + [f"coalesce({alias}.data->>'{name}', '')" for name in same]
    return " || '/' || ".join(parts)


def _duplicate_candidates(rule: DuplicateRule, fact_ids: Sequence[int] | None) -> str:
    """(subject = key/same values, trigger_date, evidence) where the records of one group
    within `window` days before one of them come from at least `min_agencies` publishers."""
    same_equal = "".join(
        f" AND g.data->'{name}' IS NOT DISTINCT FROM a.data->'{name}'" for name in rule.same
    )
    return f"""
        touched AS (
            SELECT DISTINCT f.subject FROM alerting.facts f
            WHERE f.view = ANY(CAST(:views AS text[]))
              {_only_ids(fact_ids)}
        ), groups AS (
            SELECT {_group_key("a", rule.same)} AS subject, a.id AS anchor,
                count(DISTINCT g.publisher) AS agencies, min(g.business_date) AS first_date,
                jsonb_agg({_ev("g")} ORDER BY g.business_date, g.seq) AS evidence
            FROM alerting.facts a JOIN touched USING (subject)
            JOIN alerting.facts g ON g.subject = a.subject
                AND g.view = ANY(CAST(:views AS text[]))
                AND g.business_date BETWEEN a.business_date - CAST(:window AS int) AND a.business_date
                {same_equal}
            WHERE a.view = ANY(CAST(:views AS text[]))
            GROUP BY a.id, 1
            HAVING count(DISTINCT g.publisher) >= CAST(:min_agencies AS int)
        ), candidates AS (
            SELECT DISTINCT ON (subject) subject, first_date AS trigger_date,
                NULL::date AS due_date, evidence
            FROM groups ORDER BY subject, agencies DESC, anchor
        )
    """


def _absence_candidates(rule: AbsenceRule) -> str:
    """Triggers whose deadline passed before `today` with no expected record dated in time,
    and no warning yet for that trigger (a backfill applied twice raises nothing new)."""
    return f"""
        candidates AS (
            SELECT f.subject, f.business_date AS trigger_date,
                f.business_date + CAST(:within AS int) AS due_date,
                jsonb_build_array({_ev("f")}) AS evidence
            FROM alerting.facts f
            WHERE f.view = :view AND f.data @> CAST(:filter AS jsonb)
              AND f.business_date + CAST(:within AS int) < CAST(:today AS date)
              AND NOT EXISTS (SELECT 1 FROM alerting.facts x
                  WHERE x.view = ANY(CAST(:awaited AS text[])) AND x.subject = f.subject
                    AND x.business_date <= f.business_date + CAST(:within AS int))
              AND NOT EXISTS (SELECT 1 FROM alerting.warnings w
                  WHERE w.rule_id = :rule_id AND w.trigger_date = f.business_date
                    AND w.subject = f.subject)
        )
    """


def _candidates(rule: AnyRule, fact_ids: Sequence[int] | None) -> tuple[str, dict[str, Any]]:
    views = [spec.view for spec in record_specs(rule)]
    if isinstance(rule, AbsenceRule):
        # Only over all stored facts (backfill): on the event path, timers judge absences.
        return _absence_candidates(rule), {
            "within": days_of(rule.within),
            "view": rule.trigger.view,
            "filter": _dumps(rule.trigger.filter or {}),
            "awaited": [s.view for s in rule.expected],
        }
    if isinstance(rule, ContradictionRule):
        return _contradiction_candidates(rule, fact_ids), {
            "views": views,
            "forbidding": [s.view for s in rule.forbidding],
            "forbidden": [s.view for s in rule.forbidden],
        }
    if isinstance(rule, DuplicateRule):
        return _duplicate_candidates(rule, fact_ids), {
            "views": views,
            "window": days_of(rule.window),
            "min_agencies": rule.min_agencies,
        }
    raise TypeError(f"unknown rule kind {rule.kind}")


async def raise_direct(
    session: AsyncSession,
    *,
    stored: StoredRule,
    fact_ids: Sequence[int] | None,
    now: datetime,
) -> list[Any]:
    """Contradiction and duplicate rules raise as soon as the facts show it (absence rules
    only in a backfill, over all facts): one warning per subject, none while one is open or
    the subject is silenced."""
    rule = stored.rule
    candidates, params = _candidates(rule, fact_ids)
    rows = await session.execute(
        sa.text(
            f"""
            WITH {candidates}, raised AS (
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
            **params,
            "ids": list(fact_ids) if fact_ids is not None else None,
            "rule_id": rule.id,
            "version": stored.version,
            "kind": rule.kind,
            "title": rule.title,
            "severity": rule.severity,
            "agency": rule.assigned_agency,
            "now": now,
            "today": _business_today(now),
        },
    )
    return list(rows)


def _business_today(now: datetime) -> Any:
    from govhub_common.clock import business_date

    return business_date(now)


# ---------------------------------------------------------------- dry run


async def would_raise(
    session: AsyncSession, *, stored: StoredRule, as_of: datetime, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The warnings the rule would raise over all stored facts as of a time, without
    raising them: (how many, the first `limit`)."""
    rule = stored.rule
    today = _business_today(as_of)
    candidates, params = _candidates(rule, None)
    sql = f"WITH {candidates}"
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
        {**params, "rule_id": rule.id, "today": today, "limit": limit},
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
