"""Backfill and dry run: a new or changed rule evaluated over the stored facts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import emit_warnings
from govhub_alerting.engine.rules_sql import (
    apply_compliance,
    create_timers,
    raise_direct,
    would_raise,
)
from govhub_alerting.engine.sweep import START, fire_batch
from govhub_alerting.rules.model import AbsenceRule
from govhub_alerting.rules.schemas import BackfillResult, WouldRaise
from govhub_alerting.rules.service import StoredRule
from govhub_common.clock import ensure_utc
from govhub_common.problems import Problem


async def backfill(
    session: AsyncSession,
    *,
    stored: StoredRule,
    as_of: datetime,
    dry_run: bool,
    limit: int,
    batch_size: int,
) -> BackfillResult:
    """Dry run: list the warnings the rule would raise as of `as_of`. Apply: set the timers an
    absence rule would have set from every stored trigger (existing ones are kept), then fire
    those due in this transaction; contradiction and duplicate rules raise directly."""
    as_of = ensure_utc(as_of)
    # JIT compiling these statements costs more than it saves, even over a million facts.
    await session.execute(sa.text("SET LOCAL jit = off"))
    total, listed = await would_raise(session, stored=stored, as_of=as_of, limit=limit)
    result = BackfillResult(
        rule_id=stored.id,
        as_of=as_of,
        dry_run=dry_run,
        would_raise=total,
        warnings=[WouldRaise(**w) for w in listed],
    )
    if dry_run:
        return result
    if not stored.enabled:
        raise Problem(409, "rule_disabled", f"rule {stored.id} is disabled; enable it first")
    if isinstance(stored.rule, AbsenceRule):
        result.timers_created = await create_timers(session, stored=stored, fact_ids=None)
        resolved = await apply_compliance(session, stored=stored, subjects=None, now=as_of)
        await emit_warnings(session, resolved=resolved)
        # Many timers were just written in this transaction: plan the firing with their counts.
        await session.execute(sa.text("ANALYZE alerting.timers"))
        after = START
        while True:
            batch = await fire_batch(session, as_of=as_of, limit=batch_size, after=after)
            result.raised += batch.warnings_raised
            if batch.timers_fired < batch_size or batch.last is None:
                break
            after = batch.last
    else:
        raised = await raise_direct(session, stored=stored, fact_ids=None, now=as_of)
        await emit_warnings(session, raised=raised)
        result.raised = len(raised)
    return result
