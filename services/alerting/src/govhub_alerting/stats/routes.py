"""GET /v1/stats: figures per rule over a period of trigger dates."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from govhub_alerting.deps import Reader
from govhub_alerting.stats.service import refresh_gauges, rule_stats
from govhub_common.db import SessionDep
from govhub_common.problems import Problem


class RuleFigures(BaseModel):
    rule_id: str
    kind: str
    title: str
    assigned_agency: str
    triggers: int
    reminders_sent: int
    reminders_without_recipient: int = Field(
        description="Reminders due but not sent: no mobile known for the subject."
    )
    complied_on_time: int
    warnings_raised: int
    warnings_open: int
    complied_late: int
    false_positives: int
    follow_up_rate: float | None
    compliance_rate: float | None


class StatsPage(BaseModel):
    period_from: date
    period_to: date
    data: list[RuleFigures]


router = APIRouter(prefix="/v1", tags=["stats"])


@router.get("/stats", response_model=StatsPage)
async def stats(
    session: SessionDep,
    principal: Reader,
    rule: str | None = None,
    period_from: Annotated[date, Query(alias="from")] = date(1900, 1, 1),
    period_to: Annotated[date, Query(alias="to")] = date(9999, 12, 31),
) -> StatsPage:
    if period_to < period_from:
        raise Problem(
            422,
            "validation_failed",
            "the period ends before it starts",
            errors=[{"path": "query:$.to", "message": "must not be before from"}],
        )
    # An agency sees the figures of the rules assigned to it; operators see all.
    agency = None if principal.is_operator else principal.agency
    figures = await rule_stats(
        session, rule_id=rule, agency=agency, period_from=period_from, period_to=period_to
    )
    await refresh_gauges(session)
    return StatsPage(
        period_from=period_from,
        period_to=period_to,
        data=[RuleFigures.model_validate(f) for f in figures],
    )
