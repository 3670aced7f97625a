"""/console/audit: search the audit log, verify it, and download an export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from govhub_console.audit import service
from govhub_console.ops.service import ApiProblem, Ops

router = APIRouter(prefix="/audit", include_in_schema=False)

Field = Annotated[str, Query(max_length=200)]


@router.get("")
async def audit(
    api: Ops,
    agency: Field = "",
    action: Field = "",
    since: Field = "",
    until: Field = "",
    cursor: str | None = None,
) -> Response:
    filters = {"agency": agency, "action": action, "since": since, "until": until}
    return await api.show("audit/search.html", service.search(api, filters=filters, cursor=cursor))


@router.get("/verify")
async def verify(api: Ops) -> Response:
    return await api.show("audit/verify.html", service.verification(api))


@router.get("/export")
async def export(api: Ops, since: Field = "", until: Field = "") -> Response:
    try:
        disposition, body = await service.export(api, since=since, until=until)
    except ApiProblem as problem:
        return api.problem_page(problem)
    return StreamingResponse(
        body, media_type="application/x-ndjson", headers={"Content-Disposition": disposition}
    )
