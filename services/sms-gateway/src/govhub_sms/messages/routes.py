from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import TypeAdapter, ValidationError

from govhub_common.db import SessionDep
from govhub_common.problems import Problem, validation_errors
from govhub_common.runtime import ServiceContext
from govhub_common.security import Operator, Principal, require_scope
from govhub_sms.messages import service
from govhub_sms.messages.schemas import (
    AbandonRequest,
    BatchReply,
    BatchResult,
    DispatchReply,
    DispatchRequest,
    MessageBatchItem,
    MessageCreate,
    MessageList,
    MessagePublic,
    PublicStatus,
)
from govhub_sms.sending.gateway import Gateway
from govhub_sms.sending.sender import dispatch_round
from govhub_sms.settings import SmsSettings

router = APIRouter(prefix="/v1", tags=["messages"])
Sender = Annotated[Principal, Depends(require_scope("sms:send"))]
MAX_BATCH = 1000
_ITEM = TypeAdapter(MessageBatchItem)


def _context(request: Request) -> ServiceContext:
    return request.app.state.context


def _ttl(request: Request) -> timedelta:
    settings: SmsSettings = request.app.state.settings
    return timedelta(hours=settings.sms_message_ttl_hours)


def _wake(request: Request) -> None:
    gateway: Gateway | None = _context(request).state.get("sms")
    if gateway is not None:
        gateway.wake.set()


@router.post(
    "/messages",
    status_code=201,
    response_model=MessagePublic,
    summary="Submit a message",
    description="201 for a new message; 200 with the stored message when the "
    "Idempotency-Key was already used for the same content; 409 for other content.",
)
async def submit_message(
    body: MessageCreate,
    session: SessionDep,
    principal: Sender,
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> MessagePublic:
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
            409, "idempotency_conflict", "this Idempotency-Key was used for a different message"
        )
    if outcome.errors:
        paths = ", ".join(e["path"] for e in outcome.errors[:5])
        raise Problem(422, "validation_failed", f"invalid input at {paths}", errors=outcome.errors)
    if outcome.outcome == "existing":
        response.status_code = 200
    else:
        _wake(request)
    return service.public(outcome.row)


@router.post(
    "/messages/batch",
    response_model=BatchReply,
    summary="Submit up to 1,000 messages, each with its idempotency_key",
    description="Valid items are accepted even when others are refused; each refused item "
    "lists its faults with JSON paths ($[3].recipient).",
)
async def submit_batch(
    session: SessionDep,
    principal: Sender,
    request: Request,
    items: Annotated[list[dict[str, Any]], Body(max_length=MAX_BATCH)],
) -> BatchReply:
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
async def get_message(message_id: str, session: SessionDep, principal: Sender) -> MessagePublic:
    return await service.get_message(
        session, message_id=message_id, agency=None if principal.is_operator else principal.agency
    )


@router.get("/messages", response_model=MessageList, summary="List messages")
async def list_messages(
    session: SessionDep,
    principal: Sender,
    status: PublicStatus | None = None,
    template: str | None = None,
    recipient: str | None = None,
    idempotency_key: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    agency: Annotated[str | None, Query(description="Operators only")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessageList:
    if not principal.is_operator:
        agency = principal.agency
    if recipient is not None:
        from govhub_common.identifiers import normalize_mobile

        try:
            recipient = normalize_mobile(recipient)
        except ValueError as exc:
            raise Problem(
                422,
                "validation_failed",
                "invalid input at query:$.recipient",
                errors=[{"path": "query:$.recipient", "message": str(exc)}],
            ) from None
    data, after = await service.list_messages(
        session,
        agency=agency,
        status=status,
        template=template,
        recipient=recipient,
        idempotency_key=idempotency_key,
        created_from=created_from,
        created_to=created_to,
        after=int(cursor) if cursor else None,
        limit=limit,
    )
    return MessageList(data=data, next=str(after) if after is not None else None)


@router.post(
    "/messages/{message_id}/resend",
    response_model=MessagePublic,
    summary="Resend a failed, expired or ambiguous message (operators)",
    description="The only way an ambiguous message is sent again: the carrier may already "
    "have it, so the citizen may get it twice. 409 for any other status.",
)
async def resend_message(
    message_id: str, session: SessionDep, request: Request, _: Operator
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
    "message, or when a second text would do more harm than none. 409 unless ambiguous.",
)
async def abandon_message(
    message_id: str,
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
)
async def dispatch(body: DispatchRequest, request: Request, _: Operator) -> DispatchReply:
    from govhub_common.clock import ensure_utc
    from govhub_sms.sending.reports import process_pending

    ctx = _context(request)
    as_of = ensure_utc(body.as_of) if body.as_of else ctx.clock.now()
    if not 2000 <= as_of.year <= 2200:
        raise Problem(
            422,
            "validation_failed",
            "invalid input at $.as_of",
            errors=[{"path": "$.as_of", "message": "must lie between the years 2000 and 2200"}],
        )
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
