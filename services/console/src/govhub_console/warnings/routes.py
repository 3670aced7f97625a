"""The case officer's pages: the queue, a warning, its moves and the agency's figures."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from govhub_console.deps import CheckedPerson, DatabaseDep, Person, State, form_fields
from govhub_console.home.service import menu_for
from govhub_console.ops.service import ApiProblem
from govhub_console.pages import prefix_of, render
from govhub_console.warnings import service
from govhub_console.warnings.service import Caller

router = APIRouter(include_in_schema=False)


async def caller(person: Person, state: State, db: DatabaseDep) -> Caller:
    return Caller(db, person, state.hub_api())


async def checked_caller(person: CheckedPerson, state: State, db: DatabaseDep) -> Caller:
    return Caller(db, person, state.hub_api())


Reader = Annotated[Caller, Depends(caller)]
Worker = Annotated[Caller, Depends(checked_caller)]

# Longest values of the action forms' fields (the API's own limits).
ACTION_FIELDS = {"resolution": 40, "note": 2000, "until": 40, "reason": 2000}


def today_of(request: Request) -> date:
    """The hub's business date (in a replay, the replayed day; in service, today)."""
    today: date = request.app.state.context.clock.today()
    return today


def page(
    request: Request, who: Caller, name: str, *, status: int = 200, **context: Any
) -> Response:
    person = who.person
    return render(
        request,
        name,
        locale=person.locale,
        csrf=person.csrf,
        person=person,
        status=status,
        menu=menu_for(person.role),
        status_words=service.STATUS_WORDS,
        resolution_words=service.RESOLUTION_WORDS,
        when=service.shown_time,
        **context,
    )


def refused(request: Request, who: Caller, refusal: ApiProblem) -> Response:
    """The API's refusal as a page, with its status (403, 404 ...) and its words."""
    return page(request, who, "warnings/refused.html", status=refusal.status, refusal=refusal)


@router.get("/warnings")
async def queue(request: Request, who: Reader) -> Response:
    filters = service.parse_filters(request.query_params)
    cursor = request.query_params.get("cursor") or None
    today = today_of(request)
    try:
        rules = await service.agency_rules(who)
        rows, after = await service.queue(who, filters, cursor=cursor, today=today)
    except ApiProblem as refusal:
        return refused(request, who, refusal)
    return page(
        request,
        who,
        "warnings/queue.html",
        filters=filters,
        rules=rules,
        rows=rows,
        next_query=filters.query(cursor=after) if after else None,
        request_cursor=cursor,
        statuses=service.STATUSES,
        orders=service.ORDER_WORDS,
        today=today,
    )


@router.get("/warnings/figures")
async def figures(request: Request, who: Reader) -> Response:
    today = today_of(request)
    year = service.parse_year(request.query_params.get("year"), today.year)
    if year is None:
        return page(
            request,
            who,
            "warnings/figures.html",
            status=400,
            year=today.year,
            years=service.year_choices(today.year, today),
            rules=[],
            bad_year=True,
        )
    try:
        rules = await service.figures(who, year)
    except ApiProblem as refusal:
        return refused(request, who, refusal)
    return page(
        request,
        who,
        "warnings/figures.html",
        year=year,
        years=service.year_choices(year, today),
        rules=rules,
        chart=service.CHART,
        percent=service.percent,
        bad_year=False,
    )


async def _warning_page(
    request: Request,
    who: Caller,
    warning_id: int,
    *,
    done: str | None = None,
    problem: ApiProblem | None = None,
) -> Response:
    try:
        case = await service.warning(who, warning_id)
    except ApiProblem as refusal:
        return refused(request, who, refusal)
    return page(
        request,
        who,
        "warnings/warning.html",
        status=problem.status if problem else 200,
        case=case,
        moves=service.MOVES.get(case["status"], ()),
        resolutions=service.RESOLUTIONS,
        done=service.DONE_WORDS.get(done or ""),
        problem=problem,
        today=today_of(request),
    )


@router.get("/warnings/{warning_id}")
async def warning(request: Request, who: Reader, warning_id: int) -> Response:
    return await _warning_page(request, who, warning_id, done=request.query_params.get("done"))


def _back(request: Request, warning_id: int, done: str) -> Response:
    """After an action, back to the warning (POST, redirect, GET: a reload repeats nothing)."""
    return RedirectResponse(
        f"{prefix_of(request)}/warnings/{warning_id}?done={done}", status_code=303
    )


async def _move(request: Request, who: Caller, warning_id: int, status: str) -> Response:
    form = await form_fields(request, **ACTION_FIELDS)
    try:
        await service.move(
            who,
            warning_id,
            status=status,
            resolution=form.get("resolution", ""),
            note=form.get("note", ""),
        )
    except ApiProblem as refusal:
        return await _warning_page(request, who, warning_id, problem=refusal)
    return _back(request, warning_id, status)


@router.post("/warnings/{warning_id}/claim")
async def claim(request: Request, who: Worker, warning_id: int) -> Response:
    return await _move(request, who, warning_id, "investigating")


@router.post("/warnings/{warning_id}/resolve")
async def resolve(request: Request, who: Worker, warning_id: int) -> Response:
    return await _move(request, who, warning_id, "resolved")


@router.post("/warnings/{warning_id}/reopen")
async def reopen(request: Request, who: Worker, warning_id: int) -> Response:
    return await _move(request, who, warning_id, "open")


@router.post("/warnings/{warning_id}/silence")
async def silence(request: Request, who: Worker, warning_id: int) -> Response:
    form = await form_fields(request, **ACTION_FIELDS)
    try:
        await service.silence(
            who, warning_id, until=form.get("until", ""), reason=form.get("reason", "")
        )
    except ApiProblem as refusal:
        return await _warning_page(request, who, warning_id, problem=refusal)
    return _back(request, warning_id, "silenced")
