from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.problems import Problem, not_found
from govhub_common.security import Operator
from govhub_sms.deps import Sender
from govhub_sms.fields import TEMPLATE_CODE
from govhub_sms.templates import service
from govhub_sms.templates.rendering import TemplateTextError
from govhub_sms.templates.schemas import (
    RenderPublic,
    RenderRequest,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
)

router = APIRouter(prefix="/v1/templates", tags=["templates"])
Code = Annotated[str, Path(pattern=TEMPLATE_CODE, description="The template's code.")]
# A body that is not UTF-8 is FastAPI's 400 `http_error`.
_BODY = problem_responses(ProblemCode.HTTP_ERROR)


@router.get(
    "",
    response_model=Page[TemplatePublic],
    summary="List templates",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_templates(
    session: SessionDep, _: Sender, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[TemplatePublic]:
    """Every template by code, active or not, with its parameters and the parts a message
    of it is billed when every parameter is 4 characters long."""
    after = decode_cursor(cursor, str)
    templates = await service.list_templates(
        session, limit=limit, after=after[0] if after else None
    )
    return page(templates, limit, key=lambda t: (t.code,), item=lambda t: t.public())


@router.post(
    "",
    status_code=201,
    response_model=TemplatePublic,
    summary="Create a template",
    responses=problem_responses(ProblemCode.HTTP_ERROR, ProblemCode.CONFLICT),
)
async def create_template(
    body: TemplateCreate, session: SessionDep, request: Request, _: Operator
) -> TemplatePublic:
    """A new template: the signature reads 【name】, the body names its parameters in braces
    (`{name}`). A marketing template always honours opt-outs. 409 `conflict` when the code
    exists (change it with PATCH); 422 for a bad signature or body."""
    template, _created = await service.upsert_template(
        session,
        data=body,
        notification_opt_out=request.app.state.settings.sms_notification_opt_out,
        replace=False,
    )
    return template.public()


@router.get("/{code}", response_model=TemplatePublic, summary="One template")
async def get_template(code: Code, session: SessionDep, _: Sender) -> TemplatePublic:
    """The template with its parameters, version and whether it is active."""
    template = await service.get_template(session, code=code)
    if template is None:
        raise not_found("template", code)
    return template.public()


@router.patch(
    "/{code}", response_model=TemplatePublic, summary="Change a template", responses=_BODY
)
async def update_template(
    code: Code, body: TemplateUpdate, session: SessionDep, request: Request, _: Operator
) -> TemplatePublic:
    """Changes the fields given and raises the version; messages already accepted keep
    the text they were rendered with. `active: false` stops new messages of it."""
    template = await service.update_template(
        session,
        code=code,
        data=body,
        notification_opt_out=request.app.state.settings.sms_notification_opt_out,
    )
    return template.public()


@router.post(
    "/{code}/render",
    response_model=RenderPublic,
    summary="Preview a text and its parts",
    responses=problem_responses(ProblemCode.HTTP_ERROR, ProblemCode.CONFLICT),
)
async def render_template(
    code: Code, body: RenderRequest, session: SessionDep, _: Sender
) -> RenderPublic:
    """The text a message of the template with these parameters would carry, its encoding
    and the parts the carrier bills; nothing is sent. 409 `conflict` names each missing or
    unknown parameter (the template's parameters are its state)."""
    template = await service.get_template(session, code=code)
    if template is None:
        raise not_found("template", code)
    try:
        rendered = template.render(body.params)
    except TemplateTextError as exc:
        raise Problem(
            ProblemCode.CONFLICT,
            "parameters not the template's at " + ", ".join(p for p, _ in exc.errors[:5]),
            errors=[{"path": p, "message": m} for p, m in exc.errors],
        ) from None
    info = rendered.segments
    return RenderPublic(
        text=rendered.text, encoding=info.encoding, units=info.units, segments=info.segments
    )
