"""/console/scorecards: an operator's ranking of every agency for a month, anyone else's
own agency's scorecard; /console/scorecards/{agency}: one agency's scorecard."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from govhub_console.ops.service import Caller, Ops
from govhub_console.scorecards import service

router = APIRouter(prefix="/scorecards", include_in_schema=False)

# The exchange judges the month (YYYY-MM); empty is its default, the last month ended.
Month = Annotated[str, Query(max_length=20)]
AgencyCode = Annotated[str, Path(max_length=64)]


def today_of(request: Request) -> date:
    """The hub's business date (in a replay, the replayed day)."""
    today: date = request.app.state.context.clock.today()
    return today


async def _show(api: Caller, name: str, found: Awaitable[dict[str, Any]]) -> Response:
    async def context() -> dict[str, Any]:
        return {**service.FORMATS, **await found}

    return await api.show(name, context())


@router.get("")
async def scorecards(request: Request, api: Ops, month: Month = "") -> Response:
    today = today_of(request)
    if api.person.role == "operator":
        ranking = service.ranking(api, month=month, today=today)
        return await _show(api, "scorecards/ranking.html", ranking)
    # Anyone else sees their own agency's: the API gives them no other.
    own = service.agency_scorecard(api, agency=api.person.agency, month=month, today=today)
    return await _show(api, "scorecards/agency.html", own)


@router.get("/{agency}")
async def agency_scorecard(
    request: Request, api: Ops, agency: AgencyCode, month: Month = ""
) -> Response:
    found = service.agency_scorecard(api, agency=agency, month=month, today=today_of(request))
    return await _show(api, "scorecards/agency.html", found)
