"""GET /v1/stats: figures per rule over a period of trigger dates."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from govhub_alerting.deps import Reader
from govhub_alerting.fields import NO_NUL, Day
from govhub_alerting.stats.schemas import RuleFigures
from govhub_alerting.stats.service import refresh_gauges, rule_stats, rule_stats_by_month
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
    by: Annotated[
        Literal["period", "month"],
        Query(
            description="`period`: one row per rule for the whole period; `month`: one row "
            "per rule and month (`YYYY-MM`) of the triggers' business dates, the months "
            "with a trigger, reminder or warning (they add up to the whole period's)."
        ),
    ] = "period",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RuleFigures]:
    """Per rule, in the order of their ids: triggers, reminders, warnings raised and how
    they were resolved, for the records whose business date lies in the period (a cohort:
    the enterprises licensed in March, say). With `by=month`, the same per rule and month
    (rule id, then month): each month's cohort is the triggers dated in it, so a rule's
    months add up to its figures for the period (the rates are each month's own); a page
    holds `limit` rows. An agency sees the figures of the rules assigned to it; operators
    see all. A period that ends before it starts holds no trigger: its figures are zero."""
    agency = None if principal.is_operator else principal.agency
    if by == "month":
        key = decode_cursor(cursor, str, str)
        rows = await rule_stats_by_month(
            session,
            rule_id=rule,
            agency=agency,
            period_from=period_from,
            period_to=period_to,
            after=(key[0], key[1]) if key else None,
            limit=limit + 1,
        )
        await refresh_gauges(session)
        return page(
            rows,
            limit,
            key=lambda f: (f["rule_id"], f["month"]),
            item=RuleFigures.model_validate,
        )
    after = decode_cursor(cursor, str)
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
