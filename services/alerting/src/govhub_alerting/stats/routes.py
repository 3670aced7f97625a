"""GET /v1/stats: figures per rule over a period of trigger dates."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from govhub_alerting.deps import Reader
from govhub_alerting.fields import NO_NUL, Day
from govhub_alerting.stats.schemas import RuleFigures
from govhub_alerting.stats.service import refresh_gauges, rule_stats
from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get(
    "/stats",
    response_model=Page[RuleFigures],
    summary="List the figures of each rule",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_rule_stats(
    session: SessionDep,
    principal: Reader,
    rule: Annotated[str | None, Query(pattern=NO_NUL, description="Only this rule.")] = None,
    period_from: Annotated[
        Day, Query(alias="from", description="First business date of the triggers counted.")
    ] = date(1900, 1, 1),
    period_to: Annotated[
        Day, Query(alias="to", description="Last business date of the triggers counted.")
    ] = date(9999, 12, 31),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RuleFigures]:
    """Per rule, in the order of their ids: triggers, reminders, warnings raised and how
    they were resolved, for the records whose business date lies in the period (a cohort:
    the enterprises licensed in March, say). An agency sees the figures of the rules
    assigned to it; operators see all. A period that ends before it starts holds no
    trigger: its figures are zero."""
    after = decode_cursor(cursor, str)
    agency = None if principal.is_operator else principal.agency
    figures = await rule_stats(
        session,
        rule_id=rule,
        agency=agency,
        period_from=period_from,
        period_to=period_to,
        after=after[0] if after else None,
        limit=limit + 1,
    )
    await refresh_gauges(session)
    return page(figures, limit, key=lambda f: (f["rule_id"],), item=RuleFigures.model_validate)
