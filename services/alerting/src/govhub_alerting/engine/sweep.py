"""Firing due timers: in batches, each its own transaction, claimed with FOR UPDATE SKIP LOCKED.

A batch marks its timers fired, raises its warnings and stages its events in one commit, so
a killed process leaves every timer either fired (with its warning and event) or untouched,
and replicas sweeping at once never fire a timer twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import WARNING_COLUMNS, emit_reminders, emit_warnings
from govhub_alerting.metrics import REMINDERS_UNSENT
from govhub_alerting.rules.kinds import kind_of
from govhub_alerting.rules.service import list_rules
from govhub_common.clock import business_date, ensure_utc
from govhub_common.db import Database
from govhub_common.faults import run_again_on_conflict

log = logging.getLogger("govhub.alerting.sweep")

FIRE_BATCH = f"""
WITH due AS (
    SELECT * FROM alerting.timers
    WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= :as_of
      AND (due_at, id) > (CAST(:after_due AS timestamptz), CAST(:after_id AS bigint))
    ORDER BY due_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), judged AS (
    SELECT t.*,
        EXISTS (SELECT 1 FROM alerting.facts f
                WHERE f.view = ANY(t.awaited_views) AND f.subject = t.subject
                  AND (t.kind = 'reminder' OR f.business_date <= t.deadline_date)) AS complied,
        EXISTS (SELECT 1 FROM alerting.silences s
                WHERE s.rule_id = t.rule_id AND s.subject = t.subject
                  AND s.until >= CAST(:today AS date)) AS silenced,
        -- A reminder goes to the registry's current value when the rule says so, else (or
        -- while the registry has none) to the trigger record's field.
        CASE WHEN t.kind = 'reminder' THEN coalesce(
            CASE WHEN t.reminder ? 'registry_attribute' THEN
                (SELECT c.value FROM alerting.registry_contacts c
                 WHERE c.registry = t.reminder->>'registry' AND c.subject = t.subject
                   AND c.attribute = t.reminder->>'registry_attribute') END,
            t.reminder->>'recipient') END AS recipient
    FROM due t
), raised AS (
    INSERT INTO alerting.warnings (rule_id, rule_version, kind, title, severity, subject,
        assigned_agency, status, trigger_date, due_date, raised_at, timer_id, evidence)
    SELECT j.rule_id, j.rule_version, 'absence', v.definition->>'title',
        v.definition->>'severity', j.subject, v.definition->>'assigned_agency', 'open',
        j.trigger_date, j.deadline_date, :as_of, j.id,
        CASE WHEN f.id IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
            'topic', f.topic, 'seq', f.seq, 'publisher', f.publisher, 'subject', f.subject,
            'business_date', f.business_date, 'data', f.data)) END
    FROM judged j
    JOIN alerting.rule_versions v ON v.rule_id = j.rule_id AND v.version = j.rule_version
    LEFT JOIN alerting.facts f ON f.id = j.trigger_fact_id
    WHERE j.kind = 'deadline' AND NOT j.complied AND NOT j.silenced
    ON CONFLICT (rule_id, subject) WHERE status <> 'resolved' DO NOTHING
    RETURNING *
), history AS (
    INSERT INTO alerting.warning_history (warning_id, to_status, actor, at)
    SELECT id, 'open', 'alerting', :as_of FROM raised
), fired AS (
    UPDATE alerting.timers t SET fired_at = now(), fired_as_of = :as_of,
        outcome = CASE
            WHEN j.kind = 'deadline' THEN CASE
                WHEN j.complied THEN 'complied_on_time'
                WHEN j.silenced THEN 'silenced'
                WHEN j.id IN (SELECT timer_id FROM raised) THEN 'raised'
                ELSE 'already_open' END
            ELSE CASE
                WHEN j.complied THEN 'skipped'
                WHEN j.silenced THEN 'silenced'
                WHEN j.recipient IS NULL THEN 'no_recipient'
                ELSE 'sent' END
        END,
        -- What a reminder was sent to, as it was when it fired.
        reminder = CASE WHEN j.kind = 'reminder'
            THEN t.reminder || jsonb_build_object('sent_to', j.recipient) END
    FROM judged j
    -- The array keeps the planner on the primary key rather than a scan of every timer.
    WHERE t.id = j.id AND t.id = ANY(ARRAY(SELECT id FROM due))
    RETURNING t.id, t.kind, t.outcome, t.rule_id, t.subject, t.reminder, t.due_at,
        t.trigger_date, j.recipient
), reminded AS (
    -- The reminders emitted, kept for the warnings they come before (with their delivery
    -- status, engine/deliveries.py). A key emitted before (the same licence published
    -- again) is the same SMS message: kept once.
    INSERT INTO alerting.reminders (idempotency_key, rule_id, subject, trigger_date, template,
        recipient, due_at, emitted_at)
    SELECT reminder->>'idempotency_key', rule_id, subject, trigger_date,
        reminder->>'template', recipient, due_at, :as_of
    FROM fired WHERE kind = 'reminder' AND outcome = 'sent'
    ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT 'warning' AS what, to_jsonb(w) AS body
FROM (SELECT {WARNING_COLUMNS} FROM raised) w
UNION ALL
SELECT 'reminder', jsonb_build_object('idempotency_key', reminder->>'idempotency_key',
    'rule_id', rule_id, 'subject', subject, 'recipient', recipient,
    'template', reminder->>'template', 'params', reminder->'params', 'due_at', due_at)
FROM fired WHERE kind = 'reminder' AND outcome = 'sent'
UNION ALL
-- Reminders nobody could be sent to: counted per rule, never silently dropped.
SELECT 'unsent', jsonb_build_object('rule_id', rule_id, 'n', count(*))
FROM fired WHERE kind = 'reminder' AND outcome = 'no_recipient' GROUP BY rule_id
UNION ALL
SELECT 'count', jsonb_build_object('n', count(*), 'last', (
    SELECT jsonb_build_object('due_at', due_at, 'id', id) FROM fired
    ORDER BY due_at DESC, id DESC LIMIT 1)) FROM fired
"""

# Before any timer: the watermark a sweep starts from.
START = (datetime(1, 1, 1, tzinfo=UTC), 0)


class _Row:
    """A warning as returned through jsonb, read like a result row by emit_warnings."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._mapping = body
        self.rule_id = body["rule_id"]
        self.resolution = body.get("resolution")
        self.subject = body["subject"]


@dataclass
class SweepResult:
    timers_fired: int = 0
    warnings_raised: int = 0
    warnings_resolved: int = 0
    reminders_due: int = 0
    reminders_without_recipient: int = 0
    batches: int = 0
    raised_ids: list[int] = field(default_factory=list)
    # Reminders without a recipient, by rule: counted in the metric once committed.
    unsent_by_rule: dict[str, int] = field(default_factory=dict)
    # (due_at, id) of the last timer fired: the next batch starts after it.
    last: tuple[datetime, int] | None = None

    def add(self, other: SweepResult) -> None:
        self.timers_fired += other.timers_fired
        self.warnings_raised += other.warnings_raised
        self.warnings_resolved += other.warnings_resolved
        self.reminders_due += other.reminders_due
        self.reminders_without_recipient += other.reminders_without_recipient
        self.batches += other.batches
        self.raised_ids += other.raised_ids
        for rule_id, n in other.unsent_by_rule.items():
            self.unsent_by_rule[rule_id] = self.unsent_by_rule.get(rule_id, 0) + n
        self.last = other.last or self.last


async def fire_batch(
    session: AsyncSession,
    *,
    as_of: datetime,
    limit: int,
    after: tuple[datetime, int] = START,
) -> SweepResult:
    """Fire up to `limit` due timers in the caller's transaction (one statement for the
    timers and warnings, one event per kind). `after` skips timers up to a (due_at, id)
    watermark, so a long sweep does not rescan what it fired already."""
    as_of = ensure_utc(as_of)
    # JIT compiling this statement costs more than running it on a batch.
    await session.execute(sa.text("SET LOCAL jit = off"))
    rows = (
        await session.execute(
            sa.text(FIRE_BATCH),
            {
                "as_of": as_of,
                "today": business_date(as_of),
                "limit": limit,
                "after_due": after[0],
                "after_id": after[1],
            },
        )
    ).all()
    raised = [_Row(r.body) for r in rows if r.what == "warning"]
    reminders = [r.body for r in rows if r.what == "reminder"]
    unsent = [r.body for r in rows if r.what == "unsent"]
    count = next(r.body for r in rows if r.what == "count")
    fired = int(count["n"])
    last = (
        (datetime.fromisoformat(count["last"]["due_at"]), int(count["last"]["id"]))
        if count["last"]
        else None
    )
    # Expected records that arrived late but before this sweep resolve at once (complied late).
    resolved: list[Any] = []
    if raised:
        subjects: dict[str, list[str]] = defaultdict(list)
        for w in raised:
            subjects[w.rule_id].append(w.subject)
        for stored in await list_rules(session):
            if stored.id in subjects:
                resolved += await kind_of(stored.rule).resolve_complied(
                    session, stored=stored, subjects=subjects[stored.id], now=as_of
                )
    await emit_warnings(session, raised=raised, resolved=resolved)
    await emit_reminders(session, reminders)
    return SweepResult(
        timers_fired=fired,
        warnings_raised=len(raised),
        warnings_resolved=len(resolved),
        reminders_due=len(reminders),
        reminders_without_recipient=sum(int(u["n"]) for u in unsent),
        unsent_by_rule={u["rule_id"]: int(u["n"]) for u in unsent},
        batches=1 if fired else 0,
        raised_ids=[int(w._mapping["id"]) for w in raised],
        last=last,
    )


async def sweep(db: Database, *, as_of: datetime, batch_size: int, workers: int = 1) -> SweepResult:
    """Fire every timer due as of `as_of`, batch after batch, each batch committed. Timers
    another worker or replica holds are skipped (SKIP LOCKED), so `workers` loops share the
    work as replicas do; the next sweep takes any timer a failed batch let go."""

    async def committed_batch(after: tuple[datetime, int]) -> SweepResult:
        async with db.session() as session:
            result = await fire_batch(session, as_of=as_of, limit=batch_size, after=after)
        for rule_id, n in result.unsent_by_rule.items():
            REMINDERS_UNSENT.labels(rule_id, "no_recipient").inc(n)
        return result

    async def worker() -> SweepResult:
        total = SweepResult()
        after = START
        while True:
            # Two sweeps at once (the scheduler's and an evaluate call, or two replicas'),
            # or a sweep beside ingest, may deadlock raising and resolving warnings of the
            # same subjects: the batch that lost rolled back whole and is simply run again.
            result = await run_again_on_conflict(
                functools.partial(committed_batch, after),
                what=f"sweep batch as of {as_of.isoformat()}",
            )
            total.add(result)
            if result.timers_fired < batch_size or result.last is None:
                return total
            after = result.last

    total = SweepResult()
    for result in await asyncio.gather(*(worker() for _ in range(workers))):
        total.add(result)
    if total.reminders_without_recipient:
        log.warning(
            "sweep as of %s: %d reminders not sent, no mobile known for their subjects",
            as_of.isoformat(),
            total.reminders_without_recipient,
        )
    if total.timers_fired:
        log.info(
            "sweep as of %s: %d timers fired, %d warnings raised, %d reminders due",
            as_of.isoformat(),
            total.timers_fired,
            total.warnings_raised,
            total.reminders_due,
        )
    return total
