"""POST /v1/evaluate: fire every timer due as of a time (a simulation advances time so)."""

from __future__ import annotations

from fastapi import APIRouter

from govhub_alerting.deps import Context, Settings
from govhub_alerting.engine.schemas import EvaluateRequest, EvaluateResult
from govhub_alerting.engine.sweep import sweep
from govhub_alerting.stats.service import refresh_gauges
from govhub_common.clock import ensure_utc
from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.security import Operator

router = APIRouter(prefix="/v1", tags=["engine"])


@router.post(
    "/evaluate",
    response_model=EvaluateResult,
    summary="Fire the timers due",
    responses=problem_responses(ProblemCode.HTTP_ERROR),
)
async def evaluate_timers(
    body: EvaluateRequest, operator: Operator, ctx: Context, settings: Settings
) -> EvaluateResult:
    """Fire every deadline and reminder timer due up to `as_of` (default now), as the
    scheduler does on its own: missed deadlines raise warnings, due reminders are emitted
    as `alerting.reminder.due`. A simulation advances the hub's time with it: in
    simulation mode (GOVHUB_SIMULATE) alerting's business clock reads `as_of` afterwards,
    so cases moved until the next call are stamped with it. Timers fire
    once: a second call as of the same time fires nothing."""
    # Each batch commits on its own (not the request's transaction): a crash keeps what fired.
    as_of = ensure_utc(body.as_of) if body.as_of else ctx.clock.now()
    # In simulation mode this is how the simulation says what time it is.
    ctx.clock.drive(as_of)
    result = await sweep(
        ctx.db,
        as_of=as_of,
        batch_size=settings.alerting_sweep_batch_size,
        workers=settings.alerting_sweep_workers,
    )
    async with ctx.db.session() as session:
        await refresh_gauges(session)
    return EvaluateResult(
        as_of=as_of,
        timers_fired=result.timers_fired,
        warnings_raised=result.warnings_raised,
        warnings_resolved=result.warnings_resolved,
        reminders_due=result.reminders_due,
        reminders_without_recipient=result.reminders_without_recipient,
        batches=result.batches,
    )
