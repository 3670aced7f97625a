"""/console/subscriptions: requests to the agency's topics (approve, or refuse with a
reason), who receives what, and the agency's own subscriptions (resume a paused webhook,
re-drive dead letters)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse, Response

from govhub_console.deps import form_fields
from govhub_console.ops.service import ApiProblem, CheckedOps, Ops
from govhub_console.subscriptions import service

router = APIRouter(prefix="/subscriptions", include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=9_007_199_254_740_991)]
Cursor = Annotated[str | None, Query(max_length=512)]
Done = Annotated[str | None, Query(max_length=20)]
Count = Annotated[int | None, Query(ge=0)]


@router.get("")
async def overview(
    api: Ops,
    pending_cursor: Cursor = None,
    granted_cursor: Cursor = None,
    own_cursor: Cursor = None,
    done: Done = None,
    count: Count = None,
) -> Response:
    return await api.show(
        "subscriptions/overview.html",
        service.overview(
            api,
            pending_cursor=pending_cursor,
            granted_cursor=granted_cursor,
            own_cursor=own_cursor,
            done=done,
            count=count,
        ),
    )


@router.get("/{subscription_id}")
async def subscription(
    api: Ops, subscription_id: Id, cursor: Cursor = None, done: Done = None, count: Count = None
) -> Response:
    return await api.show(
        "subscriptions/subscription.html",
        service.subscription_page(
            api, subscription_id=subscription_id, cursor=cursor, done=done, count=count
        ),
    )


@router.post("/{subscription_id}/decision")
async def decide(api: CheckedOps, subscription_id: Id) -> Response:
    form = await form_fields(api.request, decision=10, reason=2000)
    decision = form.get("decision", "")
    if decision not in service.DECISIONS:
        return await _again(api, ApiProblem(400, "decision must be approve or refuse"))
    try:
        done = await service.decide(
            api, subscription_id=subscription_id, decision=decision, reason=form.get("reason", "")
        )
    except ApiProblem as problem:
        return await _again(api, problem, service.hint_for(problem, decision, form))
    return RedirectResponse(api.url("/subscriptions", done=done), status_code=303)


@router.post("/{subscription_id}/resume")
async def resume(api: CheckedOps, subscription_id: Id) -> Response:
    try:
        await service.resume(api, subscription_id=subscription_id)
    except ApiProblem as problem:
        return api.problem_page(problem)
    return RedirectResponse(
        api.url(f"/subscriptions/{subscription_id}", done="resumed"), status_code=303
    )


@router.post("/{subscription_id}/redrive")
async def redrive(api: CheckedOps, subscription_id: Id) -> Response:
    try:
        count = await service.redrive(api, subscription_id=subscription_id)
    except ApiProblem as problem:
        return api.problem_page(problem)
    return RedirectResponse(
        api.url(f"/subscriptions/{subscription_id}", done="redriven", count=count),
        status_code=303,
    )


async def _again(api: CheckedOps, problem: ApiProblem, hint: str | None = None) -> Response:
    """The subscriptions page again, with the API's refusal above the lists (a refusal
    without a reason, a request decided meanwhile ...), under the API's status."""
    try:
        context = await service.overview(api)
    except ApiProblem as other:
        return api.problem_page(other)
    context.update(problem=problem, hint=hint)
    return api.page("subscriptions/overview.html", status=problem.status, **context)
