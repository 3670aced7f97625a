"""Backfill and dry run: a new or changed rule evaluated over the stored facts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import emit_warnings
from govhub_alerting.engine.history import materialize
from govhub_alerting.engine.rules_sql import would_raise
from govhub_alerting.rules.kinds import kind_of
from govhub_alerting.rules.schemas import BackfillResult, WouldRaise
from govhub_alerting.rules.service import StoredRule, list_rules
from govhub_common.clock import ensure_utc
from govhub_common.problem_codes import ProblemCode
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
    """Dry run: list the warnings the rule would raise as of `as_of`. Apply: raise them in
    one set-based pass (an absence whose expected record came late resolves as complied
    late at once), and set the timers of the deadlines and reminders still ahead. Past
    reminders are not sent after the fact."""
    as_of = ensure_utc(as_of)
    # JIT compiling these statements costs more than it saves, even over a million facts.
    await session.execute(sa.text("SET LOCAL jit = off"))
    if dry_run:
        # The facts the rule needs are derived from the stored records and kept: they are
        # the records' cache, read by no other rule, and a second dry run or the rule's
        # creation then reads only the records received since. No warning, timer or event.
        await _complete_facts(session, stored)
        total, listed = await would_raise(session, stored=stored, as_of=as_of, limit=limit)
        return BackfillResult(
            rule_id=stored.id,
            as_of=as_of,
            dry_run=True,
            would_raise=total,
            warnings=[WouldRaise(**w) for w in listed],
        )
    if not stored.enabled:
        raise Problem(ProblemCode.RULE_DISABLED, f"rule {stored.id} is disabled; enable it first")
    await _complete_facts(session, stored)
    kind = kind_of(stored.rule)
    # One set-based pass: every deadline already past is judged over the facts now.
    raised = await kind.raise_warnings(session, stored=stored, fact_ids=None, now=as_of)
    # Warnings the stored records already resolve (an absence complied with late).
    resolved = (
        await kind.resolve_complied(
            session, stored=stored, subjects=[w.subject for w in raised], now=as_of
        )
        if raised
        else []
    )
    # Deadlines and reminders still ahead get their timers, as the event path sets them.
    timers = await kind.set_timers(session, stored=stored, due_after=as_of)
    await emit_warnings(session, raised=raised, resolved=resolved)
    return BackfillResult(
        rule_id=stored.id,
        as_of=as_of,
        dry_run=False,
        would_raise=len(raised),
        warnings=[],
        raised=len(raised),
        timers_created=timers,
    )


async def _complete_facts(session: AsyncSession, stored: StoredRule) -> None:
    """Every stored record of the topics the rule reads, with the fields it reads, as facts
    (records of a topic no rule read before, or received before the rule was changed)."""
    others = [s.rule for s in await list_rules(session) if s.id != stored.id]
    await materialize(session, rule=stored.rule, stored=others)
