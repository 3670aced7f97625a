"""/console/clients: the agency's OAuth clients; a secret rotated after a confirmation and
shown once, in the answer to the rotation itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from govhub_console.clients import service
from govhub_console.ops.service import ApiProblem, CheckedOps, Ops

router = APIRouter(prefix="/clients", include_in_schema=False)

Agency = Annotated[str, Path(max_length=64)]
ClientId = Annotated[str, Path(max_length=64)]


@router.get("")
async def clients(api: Ops, cursor: str | None = None) -> Response:
    return await api.show("clients/list.html", service.client_list(api, cursor=cursor))


@router.get("/{agency}/{client_id}/rotate")
async def confirm(api: Ops, agency: Agency, client_id: ClientId) -> Response:
    return await api.show(
        "clients/confirm.html", service.find_client(api, agency=agency, client_id=client_id)
    )


@router.post("/{agency}/{client_id}/rotate")
async def rotate(api: CheckedOps, agency: Agency, client_id: ClientId) -> Response:
    try:
        rotated = await service.rotate(api, agency=agency, client_id=client_id)
    except ApiProblem as problem:
        return api.problem_page(problem)
    # The secret is in this answer only: rendered, not redirected to, and never cached.
    page = api.page("clients/rotated.html", client=rotated)
    page.headers["Cache-Control"] = "no-store"
    return page
