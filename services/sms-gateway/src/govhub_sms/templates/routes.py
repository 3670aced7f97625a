from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from govhub_common.db import SessionDep
from govhub_common.problems import Problem, not_found
from govhub_common.security import Operator, Principal, require_scope
from govhub_sms.templates import service
from govhub_sms.templates.rendering import TemplateTextError
from govhub_sms.templates.schemas import (
    RenderPublic,
    RenderRequest,
    TemplateCreate,
    TemplateList,
    TemplatePublic,
    TemplateUpdate,
)

router = APIRouter(prefix="/v1/templates", tags=["templates"])
Sender = Annotated[Principal, Depends(require_scope("sms:send"))]


@router.get("", response_model=TemplateList, summary="List templates")
async def list_templates(session: SessionDep, _: Sender) -> TemplateList:
    return TemplateList(data=[t.public() for t in await service.list_templates(session)])


@router.post("", status_code=201, response_model=TemplatePublic, summary="Create a template")
async def create_template(
    body: TemplateCreate, session: SessionDep, request: Request, _: Operator
) -> TemplatePublic:
    template, _created = await service.upsert_template(
        session,
        data=body,
        notification_opt_out=request.app.state.settings.sms_notification_opt_out,
        replace=False,
    )
    return template.public()


@router.get("/{code}", response_model=TemplatePublic, summary="One template")
async def get_template(code: str, session: SessionDep, _: Sender) -> TemplatePublic:
    template = await service.get_template(session, code=code)
    if template is None:
        raise not_found("template", code)
    return template.public()


@router.patch("/{code}", response_model=TemplatePublic, summary="Change a template")
async def update_template(
    code: str, body: TemplateUpdate, session: SessionDep, request: Request, _: Operator
) -> TemplatePublic:
    template = await service.update_template(
        session,
        code=code,
        data=body,
        notification_opt_out=request.app.state.settings.sms_notification_opt_out,
    )
    return template.public()


@router.post("/{code}/render", response_model=RenderPublic, summary="Preview a text and its parts")
async def render_template(
    code: str, body: RenderRequest, session: SessionDep, _: Sender, response: Response
) -> RenderPublic:
    template = await service.get_template(session, code=code)
    if template is None:
        raise not_found("template", code)
    try:
        rendered = template.render(body.params)
    except TemplateTextError as exc:
        raise Problem(
            422,
            "validation_failed",
            "invalid parameters at " + ", ".join(p for p, _ in exc.errors[:5]),
            errors=[{"path": p, "message": m} for p, m in exc.errors],
        ) from None
    info = rendered.segments
    return RenderPublic(
        text=rendered.text, encoding=info.encoding, units=info.units, segments=info.segments
    )
