"""/console/registry: the registry's conflicts (settle with a note) and review queue (link
or reject)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from govhub_console.deps import form_fields
from govhub_console.ops.service import ApiProblem, CheckedOps, Ops
from govhub_console.registry import service

router = APIRouter(prefix="/registry", include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("")
async def registry(
    api: Ops,
    conflict_status: Literal["open", "settled", "resolved"] = "open",
    review_status: Literal["pending", "linked", "rejected"] = "pending",
    subject_id: Annotated[str, Query(max_length=18)] = "",
    conflict_cursor: str | None = None,
    review_cursor: str | None = None,
    done: Literal["settled", "resolved"] | None = None,
) -> Response:
    return await api.show(
        "registry/index.html",
        service.overview(
            api,
            conflict_status=conflict_status,
            review_status=review_status,
            subject_id=subject_id,
            conflict_cursor=conflict_cursor,
            review_cursor=review_cursor,
            done=done,
        ),
    )


@router.post("/conflicts/{conflict_id}/settle")
async def settle(request: Request, api: CheckedOps, conflict_id: Id) -> Response:
    form = await form_fields(request, note=2000)
    try:
        await service.settle(api, conflict_id=conflict_id, note=form.get("note", ""))
    except ApiProblem as problem:
        return api.problem_page(problem)
    return RedirectResponse(api.url("/registry", done="settled"), status_code=303)


@router.post("/reviews/{review_id}/resolve")
async def resolve(request: Request, api: CheckedOps, review_id: Id) -> Response:
    form = await form_fields(request, decision=10, subject_id=18)
    try:
        await service.resolve(
            api,
            review_id=review_id,
            decision=form.get("decision", ""),
            subject_id=form.get("subject_id", ""),
        )
    except ApiProblem as problem:
        return api.problem_page(problem)
    return RedirectResponse(api.url("/registry", done="resolved"), status_code=303)
