"""Absence: a trigger record not followed by any expected record for the same key within a
period (a licence without a tax registration 30 days later).

Judged by deadlines: each trigger fact sets a deadline timer and one per reminder
(`create_timers`); expected records settle them and resolve late warnings
(`apply_compliance`); engine/sweep.py fires the timers still pending when they fall due.
Only a backfill judges the stored facts at once (`candidates`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import WARNING_COLUMNS
from govhub_alerting.rules.kinds.base import (
    Reference,
    RegistryAttributes,
    RuleKind,
    spec_references,
)
from govhub_alerting.rules.kinds.sql import Candidates, arrived_facts, dumps, evidence
from govhub_alerting.rules.language import (
    REGISTRY_OF_KEY,
    AbsenceRule,
    RecordSpec,
    RegistryKind,
    Reminder,
    days_of,
)

if TYPE_CHECKING:  # rules/service.py imports the kinds (through the catalog)
    from govhub_alerting.rules.service import StoredRule


def reminder_registry(rule: AbsenceRule, reminder: Reminder) -> RegistryKind | None:
    """The registry whose attribute holds the reminder's mobile: as the reminder says, else
    read from the trigger key; None when neither tells."""
    if reminder.recipient is None or reminder.recipient.registry_attribute is None:
        return None
    return reminder.recipient.registry or REGISTRY_OF_KEY.get(rule.trigger.key)


class AbsenceKind(RuleKind[AbsenceRule]):
    name = "absence"
    has_deadlines = True

    def record_specs(self, rule: AbsenceRule) -> list[RecordSpec]:
        return [rule.trigger, *rule.expected]

    def referenced_fields(self, rule: AbsenceRule) -> dict[str, set[str]]:
        # The trigger's facts keep what its filter and reminders read too.
        fields = super().referenced_fields(rule)
        trigger = fields[rule.trigger.topic]
        trigger.update((rule.trigger.filter or {}).keys())
        for reminder in rule.reminders:
            if reminder.field:
                trigger.add(reminder.field)
            trigger.update(p for p in reminder.params.values() if not p.startswith("$"))
        return fields

    def window_days(self, rule: AbsenceRule) -> int:
        return days_of(rule.within)

    def references(self, rule: AbsenceRule) -> list[Reference]:
        trigger = rule.trigger
        out = spec_references("$.trigger", trigger)
        for name in trigger.filter or {}:
            out.append(Reference(f"$.trigger.filter.{name}", trigger.topic, name))
        for i, expected in enumerate(rule.expected):
            out += spec_references(f"$.expected[{i}]", expected)
        for i, reminder in enumerate(rule.reminders):
            if reminder.recipient_field:
                out.append(
                    Reference(
                        f"$.reminders[{i}].recipient_field", trigger.topic, reminder.recipient_field
                    )
                )
            elif reminder.field:
                out.append(
                    Reference(f"$.reminders[{i}].recipient.field", trigger.topic, reminder.field)
                )
            for param, source in reminder.params.items():
                if not source.startswith("$"):
                    out.append(Reference(f"$.reminders[{i}].params.{param}", trigger.topic, source))
        return out

    def registry_errors(
        self,
        rule: AbsenceRule,
        *,
        registry_attributes: RegistryAttributes,
        contact_attributes: tuple[str, ...],
    ) -> list[dict[str, str]]:
        """A reminder's registry attribute must be one the registry has and alerting keeps."""
        errors: list[dict[str, str]] = []
        for i, reminder in enumerate(rule.reminders):
            attribute = reminder.registry_attribute
            if attribute is None:
                continue
            path = f"$.reminders[{i}].recipient"
            registry = reminder_registry(rule, reminder)
            if registry is None:
                errors.append(
                    {
                        "path": f"{path}.registry",
                        "message": f"the trigger key {rule.trigger.key!r} is neither uscc nor "
                        "id_number: say which registry (legal_entity or person)",
                    }
                )
                continue
            if attribute not in registry_attributes(registry):
                errors.append(
                    {
                        "path": f"{path}.registry_attribute",
                        "message": f"unknown registry attribute {attribute!r} of {registry}",
                    }
                )
            elif attribute not in contact_attributes:
                errors.append(
                    {
                        "path": f"{path}.registry_attribute",
                        "message": f"registry attribute {attribute!r} is not one alerting keeps "
                        f"(GOVHUB_ALERTING_REGISTRY_ATTRIBUTES: {', '.join(contact_attributes)})",
                    }
                )
        return errors

    def candidates(self, rule: AbsenceRule, fact_ids: Sequence[int] | None) -> Candidates:
        # Only over all stored facts (backfill): on the event path, timers judge absences.
        return Candidates(
            _candidates(rule),
            {
                "within": days_of(rule.within),
                "view": rule.trigger.view,
                "filter": dumps(rule.trigger.filter or {}),
                "awaited": [s.view for s in rule.expected],
            },
        )

    async def judge_new_facts(
        self,
        session: AsyncSession,
        *,
        stored: StoredRule,
        new_facts: Mapping[str, Sequence[int]],
        now: datetime,
    ) -> tuple[list[Any], list[Any]]:
        """New trigger facts set their timers; new expected facts settle timers and resolve
        warnings. Nothing is raised here: the sweep fires the deadlines."""
        rule = self.rule_of(stored)
        if new_facts.get(rule.trigger.view):
            # Timers whose expected record is already stored are set settled.
            await create_timers(session, stored=stored, fact_ids=new_facts[rule.trigger.view])
        ids = [i for spec in rule.expected for i in new_facts.get(spec.view, ())]
        if not ids:
            return [], []
        subjects = (
            await session.execute(
                sa.text("SELECT DISTINCT subject FROM alerting.facts WHERE id = ANY(:ids)"),
                {"ids": ids},
            )
        ).scalars()
        return [], await apply_compliance(session, stored=stored, subjects=list(subjects), now=now)

    async def resolve_complied(
        self,
        session: AsyncSession,
        *,
        stored: StoredRule,
        subjects: Sequence[str],
        now: datetime,
    ) -> list[Any]:
        """Expected records already stored, dated after the deadline: complied late at once."""
        return await apply_compliance(session, stored=stored, subjects=subjects, now=now)

    async def set_timers(
        self, session: AsyncSession, *, stored: StoredRule, due_after: datetime
    ) -> int:
        """Deadlines and reminders still ahead get their timers, as the event path sets them."""
        return await create_timers(session, stored=stored, fact_ids=None, due_after=due_after)

    async def cohort(
        self, session: AsyncSession, *, rule: AbsenceRule, period_from: date, period_to: date
    ) -> tuple[int, int]:
        months = await _cohort(
            session, rule=rule, period_from=period_from, period_to=period_to, monthly=False
        )
        return months.get(None, (0, 0))

    async def cohort_by_month(
        self, session: AsyncSession, *, rule: AbsenceRule, period_from: date, period_to: date
    ) -> dict[str, tuple[int, int]]:
        months = await _cohort(
            session, rule=rule, period_from=period_from, period_to=period_to, monthly=True
        )
        return {month: figures for month, figures in months.items() if month is not None}


ABSENCE = AbsenceKind()


# ---------------------------------------------------------------- timers


async def create_timers(
    session: AsyncSession,
    *,
    stored: StoredRule,
    fact_ids: Sequence[int] | None,
    due_after: datetime | None = None,
) -> int:
    """A deadline timer (and one per reminder) for each trigger fact; idempotent. Timers
    whose expected record is already stored are written settled."""
    rule = ABSENCE.rule_of(stored)
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
                "registry": reminder_registry(rule, reminder),
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
            FROM {arrived_facts(fact_ids)} f
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
            "steps": dumps(steps),
            "view": rule.trigger.view,
            "ids": list(fact_ids) if fact_ids is not None else None,
            "filter": dumps(rule.trigger.filter or {}),
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
    rule = ABSENCE.rule_of(stored)
    params = {
        "rule_id": rule.id,
        "awaited": [spec.view for spec in rule.expected],
        "subjects": list(subjects) if subjects is not None else None,
        "now": now,
    }
    # Each subject's first expected record, probed subject by subject (the aggregate keeps
    # the planner from flattening the LATERAL into a join): as one join of the facts with
    # the subjects, PostgreSQL read every fact of the awaited views for each batch whenever
    # its statistics lagged a fast load, a cost that grew with the city's history.
    if subjects is None:
        awaited = """
        WITH awaited AS (
            SELECT f.subject, min(f.business_date) AS first_date
            FROM alerting.facts f
            WHERE f.view = ANY(CAST(:awaited AS text[]))
            GROUP BY f.subject
        )
        """
    else:
        awaited = """
        WITH awaited AS (
            SELECT s.subject, m.first_date
            FROM (SELECT DISTINCT unnest(CAST(:subjects AS text[]))) AS s(subject)
            CROSS JOIN LATERAL (
                SELECT min(f.business_date) AS first_date FROM alerting.facts f
                WHERE f.view = ANY(CAST(:awaited AS text[])) AND f.subject = s.subject
            ) m
            WHERE m.first_date IS NOT NULL
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


# ---------------------------------------------------------------- backfill and figures


def _candidates(rule: AbsenceRule) -> str:
    """Triggers whose deadline passed before `today` with no expected record dated in time,
    and no warning yet for that trigger (a backfill applied twice raises nothing new)."""
    return f"""
        candidates AS (
            SELECT f.subject, f.business_date AS trigger_date,
                f.business_date + CAST(:within AS int) AS due_date,
                jsonb_build_array({evidence("f")}) AS evidence
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


async def _cohort(
    session: AsyncSession,
    *,
    rule: AbsenceRule,
    period_from: date,
    period_to: date,
    monthly: bool,
) -> dict[str | None, tuple[int, int]]:
    """Triggers in the period and those with an expected record dated by the deadline, read
    from the facts: the truth by business dates, whatever order the records arrived in. One
    statement: for the whole period (under the month None), or per month of the trigger's
    business date (`YYYY-MM`, the months with a trigger)."""
    month = "to_char(f.business_date, 'YYYY-MM')" if monthly else "CAST(NULL AS text)"
    rows = await session.execute(
        sa.text(
            f"""
            SELECT {month} AS month, count(*) AS triggers,
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM alerting.facts x
                    WHERE x.view = ANY(CAST(:awaited AS text[])) AND x.subject = f.subject
                      AND x.business_date <= f.business_date + CAST(:within AS int)))
                    AS on_time
            FROM alerting.facts f
            WHERE f.view = :view AND f.data @> CAST(:filter AS jsonb)
              AND f.business_date BETWEEN :from AND :to
            GROUP BY 1
            """
        ),
        {
            "awaited": [s.view for s in rule.expected],
            "within": days_of(rule.within),
            "view": rule.trigger.view,
            "filter": dumps(rule.trigger.filter or {}),
            "from": period_from,
            "to": period_to,
        },
    )
    return {row.month: (int(row.triggers), int(row.on_time)) for row in rows}
