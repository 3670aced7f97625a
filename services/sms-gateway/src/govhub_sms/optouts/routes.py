"""The opt-out list (operators): numbers that replied TD, or were added by hand."""

from __future__ import annotations

from fastapi import APIRouter, Response

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.problems import not_found
from govhub_common.security import Operator
from govhub_sms.fields import Mobile
from govhub_sms.optouts import service
from govhub_sms.optouts.schemas import OptOutCreate, OptOutPublic

router = APIRouter(prefix="/v1/opt-outs", tags=["opt-outs"])


@router.get("/{recipient}", response_model=OptOutPublic, summary="Whether a number opted out")
async def get_opt_out(recipient: Mobile, session: SessionDep, _: Operator) -> OptOutPublic:
    """The number's opt-out and where it came from; 404 when it has not opted out."""
    found = await service.get_opt_out(session, recipient=recipient)
    if found is None:
        raise not_found("opt-out", "for this number")
    return OptOutPublic.model_validate(found, from_attributes=True)


@router.post(
    "",
    status_code=201,
    response_model=OptOutPublic,
    summary="Add a number",
    # A body that is not UTF-8 is FastAPI's 400 `http_error`.
    responses=problem_responses(ProblemCode.HTTP_ERROR),
)
async def add_opt_out(body: OptOutCreate, session: SessionDep, _: Operator) -> OptOutPublic:
    """No message of a template that honours opt-outs goes to the number any more (a
    number already on the list is answered as it is)."""
    added = await service.add_opt_out(session, recipient=body.recipient, source="operator")
    return OptOutPublic.model_validate(added, from_attributes=True)


@router.delete("/{recipient}", status_code=204, summary="Remove a number (it opted back in)")
async def remove_opt_out(recipient: Mobile, session: SessionDep, _: Operator) -> Response:
    """The number gets every message again; 404 when it is not on the list."""
    if not await service.remove_opt_out(session, recipient=recipient):
        raise not_found("opt-out", "for this number")
    return Response(status_code=204)
