"""/console/events: every service's events status and dead letters, the webhooks' dead
deliveries, and their re-drive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from govhub_console.deps import form_fields
from govhub_console.events import service
from govhub_console.ops.service import ApiProblem, CheckedOps, Ops

router = APIRouter(prefix="/events", include_in_schema=False)


@router.get("")
async def events(
    request: Request,
    api: Ops,
    webhook_cursor: str | None = None,
    redriven: Annotated[int | None, Query(ge=0)] = None,
    group: Annotated[str, Query(max_length=200)] = "",
    webhooks_redriven: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    grafana = request.app.state.settings.console_grafana_url
    context = service.overview(api, webhook_cursor=webhook_cursor, grafana_url=grafana)
    try:
        return api.page(
            "events/index.html",
            **await context,
            redriven=redriven,
            redriven_group=group,
            webhooks_redriven=webhooks_redriven,
        )
    except ApiProblem as problem:
        return api.problem_page(problem)


@router.post("/redrive")
async def redrive(request: Request, api: CheckedOps) -> Response:
    form = service.redrive_form(await request.body())
    try:
        result = await service.redrive(api, form)
    except ApiProblem as problem:
        return api.problem_page(problem)
    done = api.url("/events", redriven=result["redriven"], group=result["group"])
    return RedirectResponse(done, status_code=303)


@router.post("/webhooks/redrive")
async def redrive_webhooks(request: Request, api: CheckedOps) -> Response:
    form = await form_fields(request, subscription_id=20, seq=20)
    try:
        count = await service.redrive_webhooks(
            api, subscription_id=form.get("subscription_id", ""), seq=form.get("seq", "")
        )
    except ApiProblem as problem:
        return api.problem_page(problem)
    return RedirectResponse(api.url("/events", webhooks_redriven=count), status_code=303)
