"""POST /v1/evaluate: fire every timer due as of a time (a simulation advances time so)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from govhub_alerting.deps import Context, Settings
from govhub_alerting.engine.sweep import sweep
from govhub_alerting.stats.service import refresh_gauges
from govhub_common.clock import ensure_utc
from govhub_common.security import Operator

router = APIRouter(prefix="/v1", tags=["engine"])


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: datetime | None = Field(
        None, description="Fire timers due up to this time (default now); naive = Asia/Shanghai."
    )


class EvaluateResult(BaseModel):
    as_of: datetime
    timers_fired: int
    warnings_raised: int
    warnings_resolved: int
    reminders_due: int
    reminders_without_recipient: int = Field(
        description="Reminders due but not emitted: no mobile known for the subject."
    )
    batches: int


@router.post("/evaluate", response_model=EvaluateResult)
async def evaluate(
    body: EvaluateRequest, operator: Operator, ctx: Context, settings: Settings
) -> EvaluateResult:
    # Each batch commits on its own (not the request's transaction): a crash keeps what fired.
    as_of = ensure_utc(body.as_of) if body.as_of else ctx.clock.now()
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
