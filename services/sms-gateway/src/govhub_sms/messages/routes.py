from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from pydantic import TypeAdapter, ValidationError

from govhub_common.contract import COMPONENTS, ProblemCode, component_schemas, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.problems import Problem, validation_errors
from govhub_common.runtime import ServiceContext
from govhub_common.security import Operator
from govhub_sms.deps import Sender
from govhub_sms.fields import NO_NUL, AgencyCode, Mobile, Moment, TemplateCode
from govhub_sms.messages import service
from govhub_sms.messages.schemas import (
    AbandonRequest,
    BatchReply,
    BatchResult,
    DispatchReply,
    DispatchRequest,
    MessageBatchItem,
    MessageCreate,
    MessagePublic,
    PublicStatus,
)
from govhub_sms.sending.sender import dispatch_round
from govhub_sms.settings import SmsSettings
from govhub_sms.state import sms_state

router = APIRouter(prefix="/v1", tags=["messages"])
MAX_BATCH = 1000
_ITEM = TypeAdapter(MessageBatchItem)
# The batch body as documented: an array of MessageBatchItem. Each item is validated on its
# own, so that the valid ones are accepted beside the refused (the batch promise).
_BATCH_SCHEMA = {
    "items": {"$ref": "#/components/schemas/MessageBatchItem"},
    "examples": [MessageBatchItem.model_json_schema()["examples"]],
}
# Beyond the standard problems (401, 403, 404, 422, 503, added to every operation by
# govhub_common.contract): a body that is not UTF-8 is FastAPI's 400 `http_error`.
_BODY = problem_responses(ProblemCode.HTTP_ERROR)
MessageId = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="The message's id.")]


def _context(request: Request) -> ServiceContext:
    return request.app.state.context


def _ttl(request: Request) -> timedelta:
    settings: SmsSettings = request.app.state.settings
    return timedelta(hours=settings.sms_message_ttl_hours)


def _wake(request: Request) -> None:
    gateway = sms_state(_context(request)).gateway
    if gateway is not None:
        gateway.wake.set()


@router.post(
    "/messages",
    status_code=201,
    response_model=MessagePublic,
    response_description="The new message, queued",
    summary="Send a message",
    responses={
        200: {
            "model": MessagePublic,
            "description": "An idempotent replay: the Idempotency-Key was already used for "
            "the same message, which is answered as stored (and not sent again)",
        },
        **problem_responses(
            ProblemCode.HTTP_ERROR,
            ProblemCode.NOT_FOUND,
            ProblemCode.CONFLICT,
            ProblemCode.IDEMPOTENCY_CONFLICT,
        ),
    },
)
async def send_message(
    body: MessageCreate,
    session: SessionDep,
    principal: Sender,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=NO_NUL,
            description="Makes the request take effect once: repeat it with the same key "
            "after a timeout. Without one, every request is a new message.",
            examples=["gz-ltax-reminder-91440101MA59CTL309-20240506"],
        ),
    ] = None,
) -> MessagePublic:
    """Renders the template with the parameters and queues the text for the recipient. 201
    with the new message; 200 with the stored message when the Idempotency-Key was already
    used for the same content; 409 `idempotency_conflict` when it was used for another
    message; 404 `not_found` for an unknown template; 409 `conflict` for an inactive
    template or parameters that are not the template's (each named in `errors`); 422 for
    input the schema refuses, or a `not_before` more than a year ahead."""
    key = idempotency_key or f"auto-{uuid.uuid4()}"
    [outcome] = await service.submit_messages(
        session,
        agency=principal.agency,
        submissions=[service.Submission(body, key)],
        as_of=_context(request).clock.now(),
        ttl=_ttl(request),
    )
    if outcome.outcome == "conflict":
        raise Problem(
            ProblemCode.IDEMPOTENCY_CONFLICT,
            "this Idempotency-Key was used for a different message",
        )
    if outcome.errors:
        paths = ", ".join(e["path"] for e in outcome.errors[:5])
        raise Problem(outcome.problem, f"refused at {paths}", errors=outcome.errors)
    if outcome.outcome == "existing":
        response.status_code = 200
    else:
        _wake(request)
    return service.public(outcome.row)


@router.post(
    "/messages/batch",
    response_model=BatchReply,
    summary="Send up to 1,000 messages, each with its idempotency_key",
    responses=_BODY,
    openapi_extra={COMPONENTS: component_schemas(MessageBatchItem)},
)
async def send_messages(
    session: SessionDep,
    principal: Sender,
    request: Request,
    items: Annotated[
        list[dict[str, Any]], Body(max_length=MAX_BATCH, json_schema_extra=_BATCH_SCHEMA)
    ],
) -> BatchReply:
    """Each item is a message with its own idempotency_key, judged on its own: valid items
    are accepted even when others are refused, whether an item breaks the schema (no
    key, a malformed number, ...) or what depends on state (an unknown or inactive
    template, parameters that are not the template's, a key already used for another
    message). The reply gives each item's outcome (`created`, `existing` for a replay of
    the same message, or `rejected`) and the faults of a refused item with JSON paths
    (`$[3].recipient`)."""
    submissions: list[service.Submission] = []
    positions: list[int] = []
    results: list[BatchResult | None] = [None] * len(items)
    for i, raw in enumerate(items):
        try:
            item = _ITEM.validate_python(raw)
        except ValidationError as exc:
            errors = validation_errors([{**e, "loc": ("body", i, *e["loc"])} for e in exc.errors()])
            results[i] = BatchResult(index=i, outcome="rejected", errors=errors)
            continue
        data = MessageCreate.model_validate(item.model_dump(exclude={"idempotency_key"}))
        submissions.append(service.Submission(data, item.idempotency_key, f"$[{i}]"))
        positions.append(i)
    outcomes = await service.submit_messages(
        session,
        agency=principal.agency,
        submissions=submissions,
        as_of=_context(request).clock.now(),
        ttl=_ttl(request),
    )
    for i, outcome in zip(positions, outcomes, strict=True):
        kind = "rejected" if outcome.errors else outcome.outcome
        row = outcome.row
        results[i] = BatchResult(
            index=i,
            outcome=kind,
            id=row["id"] if row is not None else None,
            status=service.public_status(row["status"]) if row is not None else None,
            errors=outcome.errors or None,
        )
    final = [r for r in results if r is not None]
    created = sum(r.outcome == "created" for r in final)
    if created:
        _wake(request)
    return BatchReply(
        created=created,
        existing=sum(r.outcome == "existing" for r in final),
        rejected=sum(r.outcome == "rejected" for r in final),
        results=final,
    )


@router.get(
    "/messages/{message_id}", response_model=MessagePublic, summary="A message and its history"
)
async def get_message(
    message_id: MessageId, session: SessionDep, principal: Sender
) -> MessagePublic:
    """The message with its rendered text, billed parts, status and every status it went
    through. An agency sees its own messages only (another's is 404); operators see all."""
    return await service.get_message(
        session, message_id=message_id, agency=None if principal.is_operator else principal.agency
    )


@router.get(
    "/messages",
    response_model=Page[MessagePublic],
    summary="List messages",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_messages(
    session: SessionDep,
    principal: Sender,
    status: Annotated[PublicStatus | None, Query(description="Only messages now in it.")] = None,
    template: Annotated[TemplateCode | None, Query(description="Only this template's.")] = None,
    recipient: Annotated[Mobile | None, Query(description="Only to this mobile number.")] = None,
    idempotency_key: Annotated[str | None, Query(max_length=255, pattern=NO_NUL)] = None,
    created_from: Annotated[
        Moment | None, Query(description="Accepted at or after this time.")
    ] = None,
    created_to: Annotated[Moment | None, Query(description="Accepted before this time.")] = None,
    agency: Annotated[AgencyCode | None, Query(description="Operators only")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MessagePublic]:
    """The caller's messages (an operator's: every agency's, or `agency`'s) in the order they
    were accepted, without their history, filtered by status, template, recipient,
    idempotency key and time of acceptance."""
    after = decode_cursor(cursor, int)
    if not principal.is_operator:
        agency = principal.agency
    rows = await service.list_messages(
        session,
        agency=agency,
        status=status,
        template=template,
        recipient=recipient,
        idempotency_key=idempotency_key,
        created_from=created_from,
        created_to=created_to,
        after=after[0] if after else None,
        limit=limit,
    )
    return page(rows, limit, key=lambda r: (r["seq"],), item=service.public)


@router.post(
    "/messages/{message_id}/resend",
    response_model=MessagePublic,
    summary="Resend a failed, expired or ambiguous message (operators)",
    description="The message is queued again with a new validity. The only way an ambiguous "
    "message is sent again: the carrier may already have it, so the citizen may get it twice. "
    "409 `conflict` for any other status.",
    responses=problem_responses(ProblemCode.CONFLICT),
)
async def resend_message(
    message_id: MessageId, session: SessionDep, request: Request, _: Operator
) -> MessagePublic:
    message = await service.resend_message(
        session, message_id=message_id, as_of=_context(request).clock.now(), ttl=_ttl(request)
    )
    _wake(request)
    return message


@router.post(
    "/messages/{message_id}/abandon",
    response_model=MessagePublic,
    summary="Give up an ambiguous message (operators)",
    description="It ends `failed` with the reason; use it when the carrier says it has the "
    "message, or when a second text would do more harm than none. 409 `conflict` unless "
    "ambiguous.",
    responses=problem_responses(ProblemCode.HTTP_ERROR, ProblemCode.CONFLICT),
)
async def abandon_message(
    message_id: MessageId,
    session: SessionDep,
    request: Request,
    _: Operator,
    body: Annotated[AbandonRequest | None, Body()] = None,
) -> MessagePublic:
    return await service.abandon_message(
        session,
        message_id=message_id,
        as_of=_context(request).clock.now(),
        why=body.reason if body else None,
    )


@router.post(
    "/dispatch",
    response_model=DispatchReply,
    summary="Run sending rounds as of a time (operators; for simulations and tests)",
    responses=_BODY,
)
async def dispatch_messages(body: DispatchRequest, request: Request, _: Operator) -> DispatchReply:
    """Runs sending rounds as of `as_of` until nothing more is due (at most 100 rounds), then
    applies the delivery reports received, and answers the totals. The sender does the same
    by itself in real time; this is for a simulated clock (the demo city, tests)."""
    from govhub_common.clock import ensure_utc
    from govhub_sms.sending.reports import process_pending

    ctx = _context(request)
    # The year as written, as the schema's pattern holds it (DISPATCH_YEARS).
    if body.as_of is not None and not 2000 <= body.as_of.year <= 2200:
        raise Problem(
            ProblemCode.VALIDATION_FAILED,
            "invalid input at $.as_of",
            errors=[{"path": "$.as_of", "message": "must lie between the years 2000 and 2200"}],
        )
    as_of = ensure_utc(body.as_of) if body.as_of else ctx.clock.now()
    # In simulation mode this is how the simulation says what time it is.
    ctx.clock.drive(as_of)
    totals = DispatchReply(
        as_of=as_of, claimed=0, sent=0, deferred=0, failed=0, expired=0, reports_applied=0
    )
    # Rounds until nothing is due (a failover is due at once); bounded, so a flood
    # cannot pin the request.
    for _round in range(100):
        result = await dispatch_round(ctx, as_of=as_of)
        totals.claimed += result.claimed
        totals.sent += result.sent
        totals.deferred += result.deferred
        totals.failed += result.failed
        totals.expired += result.expired
        totals.ambiguous += result.ambiguous
        totals.recovered += result.recovered
        totals.reports_applied += await process_pending(ctx, as_of=as_of)
        if result.claimed == 0:
            break
    return totals
