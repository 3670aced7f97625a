"""Feeds, delivery status, subscription figures and webhook dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import MAX_CURSOR_LENGTH, Page, decode_cursor, page
from govhub_common.problems import Problem, not_found
from govhub_common.security import Principal, require_scope
from govhub_exchange.delivery import service, webhooks
from govhub_exchange.delivery.notify import wake_webhooks
from govhub_exchange.delivery.schemas import (
    DeliveryStatus,
    FeedPage,
    SubscriptionStats,
    WebhookDeadLetter,
    WebhookRedrive,
    WebhookRedriveResult,
)
from govhub_exchange.deps import DEFAULT_LIMIT, Context, Cursor, Limit, Settings, Subscriber
from govhub_exchange.fields import (
    ID_MAX,
    TOPIC_CODE,
    AgencyQuery,
    SubscriptionPath,
    TextQuery,
)
from govhub_exchange.state import exchange_state
from govhub_exchange.subscriptions import service as subscriptions

router = APIRouter(prefix="/v1", tags=["delivery"])

AnyExchange = Annotated[
    Principal,
    Depends(require_scope("exchange:subscribe", "exchange:catalog", "exchange:publish")),
]


@router.get(
    "/subscriptions/{subscription_id}/records",
    response_model=FeedPage,
    summary="Read a subscription's feed",
    responses=problem_responses(
        ProblemCode.SUBSCRIPTION_NOT_ACTIVE,
        ProblemCode.INVALID_CURSOR,
        ProblemCode.RECORDS_ARCHIVED,
    ),
)
async def read_feed(
    subscription_id: SubscriptionPath,
    who: Subscriber,
    ctx: Context,
    settings: Settings,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="The `next` or `position` of an earlier page; omit to read from the "
            "start of the live log (or from where the subscription acknowledged, by passing its "
            "last `position`). A cursor before the live log is a 410 `records_archived`.",
        ),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    wait: Annotated[
        float,
        Query(ge=0, description="Seconds to wait for new records when none are there (long poll)."),
    ] = 0,
) -> Response:
    """The subscription's records after the cursor, in log order, with only the granted
    data items. The subscriber's reading from a cursor acknowledges every record before it
    (an operator's read acknowledges nothing). Follow `next`
    until it is null (`caught_up`); later, read from `position` (with `wait` to long-poll
    until something is published). Only approved subscriptions deliver (403
    `subscription_not_active`)."""
    key = decode_cursor(cursor, int)
    after = key[0] if key else None
    if after is not None and after < 0:  # not a position of the log: no feed gave it
        raise Problem(
            ProblemCode.INVALID_CURSOR,
            "cursor is not one this feed gave; pass a previous page's `next` or `position`",
            errors=[{"path": "query:$.cursor", "message": "not a cursor of this feed"}],
        )
    limit = min(limit, settings.feed_max_limit)
    deadline = asyncio.get_running_loop().time() + min(wait, settings.feed_max_wait_seconds)
    while True:
        async with ctx.db.session() as session:
            grant = await service.feed_grant(session, who=who, subscription_id=subscription_id)
            if after is None:  # from the start of the live log
                after = grant["log_start_seq"] - 1
            # Taken before the query, so a publish committing after it still wakes us.
            woken = exchange_state(ctx).notifier.current(grant["topic"])
            feed = await service.read_and_acknowledge(
                session, grant=grant, after=after, limit=limit, reader=who.actor
            )
        remaining = deadline - asyncio.get_running_loop().time()
        if feed.count or remaining <= 0:
            # The page's JSON was written by PostgreSQL; only its envelope is added here.
            return Response(service.page_body(feed, after), media_type="application/json")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout=remaining)


@router.get(
    "/subscriptions/{subscription_id}/stats",
    response_model=SubscriptionStats,
    summary="Get a subscription's delivery figures",
)
async def get_subscription_stats(
    subscription_id: SubscriptionPath, session: SessionDep, who: AnyExchange
) -> SubscriptionStats:
    """Lag in records and seconds, delivery progress and webhook attempts (the subscriber,
    the topic's owner or an operator)."""
    await subscriptions.get(session, who=who, subscription_id=subscription_id)
    stats = await service.subscription_stats(session, subscription_id=subscription_id)
    return SubscriptionStats.model_validate(stats)


@router.get(
    "/deliveries",
    response_model=Page[DeliveryStatus],
    summary="List deliveries of a topic's records",
    responses=problem_responses(ProblemCode.NOT_FOUND, ProblemCode.INVALID_CURSOR),
)
async def list_deliveries(
    session: SessionDep,
    who: AnyExchange,
    topic: Annotated[str, Query(pattern=TOPIC_CODE, description="The topic's code.")],
    record_id: TextQuery = None,
    subscriber: AgencyQuery = None,
    status: Literal["pending", "delivered", "acknowledged", "dead"] | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DeliveryStatus]:
    """Delivery status per record and subscriber (feed and webhook), newest record first.
    The topic's owner and operators see every subscriber; a subscriber sees its own."""
    key = decode_cursor(cursor, int, int)
    rows = await service.delivery_status(
        session,
        who=who,
        topic=topic,
        record_id=record_id,
        subscriber=subscriber,
        status=status,
        after=(key[0], key[1]) if key else None,
        limit=limit + 1,
    )
    return page(
        rows,
        limit,
        key=lambda r: (r["seq"], r["subscription_id"]),
        item=DeliveryStatus.model_validate,
    )


async def _subscriber_of(
    session: AsyncSession, who: Principal, subscription_id: int | None
) -> str | None:
    """Whose dead letters the caller acts on: None (everyone's) for an operator, else its
    own agency's; a subscription it names must be one of its own (another agency's, even
    on a topic it owns, answers 404: the webhook is the subscriber's)."""
    if who.is_operator:
        return None
    if subscription_id is not None:
        found = await subscriptions.get(session, who=who, subscription_id=subscription_id)
        if found.subscriber != who.agency:
            raise not_found("subscription", subscription_id)
    return who.agency


@router.get(
    "/webhooks/dead-letters",
    response_model=Page[WebhookDeadLetter],
    summary="List dead webhook deliveries",
    responses=problem_responses(ProblemCode.INVALID_CURSOR, ProblemCode.NOT_FOUND),
)
async def list_webhook_dead_letters(
    session: SessionDep,
    who: Subscriber,
    subscription_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[WebhookDeadLetter]:
    """Webhook deliveries given up after their attempts ran out, by subscription and seq;
    re-drive them with `redriveWebhooks`. Operators see every subscription's, a subscriber
    its own (another agency's subscription is a 404)."""
    subscriber = await _subscriber_of(session, who, subscription_id)
    key = decode_cursor(cursor, int, int)
    rows = await webhooks.dead_letters(
        session,
        subscription_id=subscription_id,
        subscriber=subscriber,
        after=(key[0], key[1]) if key else (0, 0),
        limit=limit + 1,
    )
    return page(
        rows,
        limit,
        key=lambda r: (r["subscription_id"], r["seq"]),
        item=WebhookDeadLetter.model_validate,
    )


@router.post(
    "/webhooks/redrive",
    response_model=WebhookRedriveResult,
    summary="Re-drive dead webhook deliveries",
    responses=problem_responses(ProblemCode.NOT_FOUND),
)
async def redrive_webhooks(
    body: WebhookRedrive, session: SessionDep, who: Subscriber, ctx: Context
) -> WebhookRedriveResult:
    """Put dead webhook deliveries back in the queue: one (subscription and seq), a
    subscription's, or all; they are attempted again from the first attempt. Operators
    re-drive any subscription's, a subscriber its own (another agency's is a 404)."""
    if body.seq is not None and body.subscription_id is None:
        raise Problem(
            ProblemCode.VALIDATION_FAILED,
            "seq needs subscription_id",
            errors=[{"path": "$.subscription_id", "message": "required with seq"}],
        )
    subscriber = await _subscriber_of(session, who, body.subscription_id)
    count = await webhooks.redrive(
        session,
        actor=who.actor,
        subscription_id=body.subscription_id,
        seq=body.seq,
        subscriber=subscriber,
    )
    await session.commit()
    wake_webhooks(ctx)
    return WebhookRedriveResult(redriven=count)
