"""The scorecards (数据质量评分卡): an agency reads its own, operators every agency's; operators
(and the hub itself, monthly) publish a month's to hub_scorecards."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from govhub_common.clock import business_date, ensure_utc
from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.inputs import Day
from govhub_common.pagination import Page, decode_cursor, page
from govhub_common.problems import forbidden
from govhub_common.security import Operator
from govhub_exchange.deps import (
    DEFAULT_LIMIT,
    Context,
    Cursor,
    Limit,
    ScorecardReader,
    Settings,
)
from govhub_exchange.fields import AgencyQuery, TopicQuery
from govhub_exchange.identity import service as identity
from govhub_exchange.quality import service
from govhub_exchange.quality.publication import close_months, refresh_scorecard_gauges
from govhub_exchange.quality.schemas import Scorecard, ScorecardClose, ScorecardsClosed

router = APIRouter(prefix="/v1", tags=["scorecards"])

# A month of the business years (govhub_common.inputs): 1900-01 to 9998-12.
MONTH = r"^(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$"


@router.get(
    "/scorecards",
    response_model=Page[Scorecard],
    summary="List data-quality scorecards",
    responses=problem_responses(
        ProblemCode.INVALID_CURSOR,
        ProblemCode.FORBIDDEN,
        ProblemCode.NOT_FOUND,
        ProblemCode.VALIDATION_FAILED,
    ),
)
async def list_scorecards(
    session: SessionDep,
    who: ScorecardReader,
    ctx: Context,
    settings: Settings,
    agency: AgencyQuery = None,
    topic: TopicQuery = None,
    month: Annotated[
        str | None, Query(pattern=MONTH, description="A calendar month, `YYYY-MM`.")
    ] = None,
    period_from: Annotated[
        Day | None, Query(alias="from", description="First business date of a period.")
    ] = None,
    period_to: Annotated[
        Day | None, Query(alias="to", description="Last business date of a period (included).")
    ] = None,
    by: Annotated[
        Literal["agency", "topic"],
        Query(description="`agency`: one scorecard per agency; `topic`: per topic."),
    ] = "agency",
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[Scorecard]:
    """The scorecards of a month (`month`) or of any period (`from` to `to`, at most 367
    days; one of them alone: to the end or from the start of its month; neither: the last
    month ended), in the order of agency and topic. `month` with `from` or `to`, or `to`
    before `from`, is 422 naming the parameter. By agency, each agency's figures
    over all its topics with its responsiveness; by topic (or with `topic`), each topic's.
    An agency sees its own; operators see every agency's. docs/quality.md defines each
    figure. A month's grade has its change from the month before. Read with
    `exchange:catalog`, `exchange:publish`, `exchange:subscribe` or `alerting:read` (the
    agency's case officers)."""
    if not who.is_operator:
        if agency is not None and agency != who.agency:
            raise forbidden("an agency reads only its own scorecards")
        agency = who.agency
    elif agency is not None:
        await identity.get_agency(session, code=agency)  # 404 for an agency the hub lacks
    start, end, whole_month = service.resolve_period(
        month=month,
        period_from=period_from,
        period_to=period_to,
        today=business_date(ctx.clock.now()),
    )
    cards = await service.scorecards(
        session,
        start=start,
        end=end,
        month=whole_month,
        agency=agency,
        topic=topic,
        by_topic=by == "topic",
        now=ctx.clock.now(),
        targets=service.Targets.of(settings),
    )
    after = decode_cursor(cursor, str, str)
    rows = [c for c in cards if after is None or (c.agency, c.topic or "") > (after[0], after[1])]
    return page(rows, limit, key=lambda c: (c.agency, c.topic or ""), item=lambda c: c)


@router.post(
    "/scorecards/close",
    response_model=ScorecardsClosed,
    summary="Publish the scorecards of the months ended",
)
async def close_scorecard_months(
    body: ScorecardClose, operator: Operator, ctx: Context, settings: Settings
) -> ScorecardsClosed:
    """Publish to hub_scorecards the scorecards of every month ended by `as_of` (default
    now) not yet published, and show the last in the metrics; the hub does this by itself
    each hour. In simulation mode (GOVHUB_SIMULATE) the exchange's business clock reads
    `as_of` from now on: the arrival of the records published until the next call is
    stamped with it. In service, a time after now counts as now."""
    now = ctx.clock.now()
    as_of = ensure_utc(body.as_of) if body.as_of else now
    ctx.clock.drive(as_of)
    if not ctx.clock.simulated:
        as_of = min(as_of, now)
    async with ctx.db.session() as session:
        months, records = await close_months(
            session, now=as_of, targets=service.Targets.of(settings)
        )
    if months:
        async with ctx.db.session() as session:
            await refresh_scorecard_gauges(session)
    return ScorecardsClosed(months=months, scorecards=records)
