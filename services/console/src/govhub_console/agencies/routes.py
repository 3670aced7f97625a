"""/console/agencies: the hub's agencies and their clients; an agency disabled or enabled
after a confirmation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.responses import RedirectResponse, Response

from govhub_console.agencies import service
from govhub_console.ops.service import ApiProblem, CheckedOps, Ops

router = APIRouter(prefix="/agencies", include_in_schema=False)

Code = Annotated[str, Path(max_length=64)]
Action = Annotated[Literal["disable", "enable"], Path()]


@router.get("")
async def agencies(api: Ops, cursor: str | None = None) -> Response:
    return await api.show("agencies/list.html", service.agency_list(api, cursor=cursor))


@router.get("/{code}")
async def agency(
    api: Ops, code: Code, cursor: str | None = None, done: str | None = None
) -> Response:
    return await api.show(
        "agencies/agency.html", service.agency_page(api, code=code, cursor=cursor, done=done)
    )


@router.get("/{code}/{action}")
async def confirm(api: Ops, code: Code, action: Action) -> Response:
    return await api.show(
        "agencies/confirm.html", service.confirmation(api, code=code, action=action)
    )


@router.post("/{code}/{action}")
async def change(api: CheckedOps, code: Code, action: Action) -> Response:
    try:
        await service.set_disabled(api, code=code, action=action)
    except ApiProblem as problem:
        return api.problem_page(problem)
    return RedirectResponse(api.url(f"/agencies/{code}", done=action), status_code=303)
