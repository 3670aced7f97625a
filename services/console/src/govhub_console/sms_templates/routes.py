"""/console/sms-templates: the SMS templates; a template's text with a preview rendered
from sample parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from govhub_console.deps import form_fields
from govhub_console.ops.service import ApiProblem, CheckedOps, Ops
from govhub_console.sms_templates import service

router = APIRouter(prefix="/sms-templates", include_in_schema=False)

Code = Annotated[str, Path(max_length=64)]


@router.get("")
async def templates(api: Ops, cursor: str | None = None) -> Response:
    return await api.show("sms_templates/list.html", service.template_list(api, cursor=cursor))


@router.get("/{code}")
async def template(api: Ops, code: Code) -> Response:
    return await api.show("sms_templates/template.html", service.template_page(api, code=code))


@router.post("/{code}/render")
async def render_preview(request: Request, api: CheckedOps, code: Code) -> Response:
    try:
        shown = await service.template_page(api, code=code)
    except ApiProblem as problem:
        return api.problem_page(problem)
    form = await form_fields(request, **service.sample_fields(shown["template"]["params"]))
    return await api.show(
        "sms_templates/template.html",
        service.template_page(api, code=code, params=service.sample_params(form)),
    )
