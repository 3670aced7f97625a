"""Subscription requests and decisions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import Page, decode_cursor, page
from govhub_common.security import Principal, require_scope
from govhub_exchange.delivery.notify import wake_webhooks
from govhub_exchange.deps import (
    DEFAULT_LIMIT,
    CatalogEditor,
    Context,
    Cursor,
    Limit,
    Subscriber,
)
from govhub_exchange.fields import SubscriptionPath, TopicQuery
from govhub_exchange.state import exchange_state
from govhub_exchange.subscriptions import service
from govhub_exchange.subscriptions.schemas import (
    Decision,
    Revocation,
    SubscriptionCreate,
    SubscriptionPublic,
    SubscriptionStatus,
    WebhookSecret,
    WebhookSet,
)

router = APIRouter(prefix="/v1", tags=["subscriptions"])

AnyExchange = Annotated[Principal, Depends(require_scope("exchange:subscribe", "exchange:catalog"))]


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionPublic,
    summary="Request a subscription",
    responses=problem_responses(
        ProblemCode.NOT_FOUND,
        ProblemCode.UNKNOWN_DATA_ITEMS,
        ProblemCode.FORBIDDEN,
        ProblemCode.UNKNOWN_AGENCY,
    ),
)
async def request_subscription(
    body: SubscriptionCreate, session: SessionDep, who: Subscriber
) -> SubscriptionPublic:
    """Ask for the named data items of a topic, for a stated purpose. On a topic shared
    unconditionally the request is approved at once; otherwise it waits (`pending`) for the
    topic owner's decision. An unknown topic is a 404, unknown data items a 422. An operator
    may name the subscribing agency (`subscriber`; others get a 403)."""
    return await service.request(session, who=who, body=body)


@router.get(
    "/subscriptions",
    response_model=Page[SubscriptionPublic],
    summary="List subscriptions",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_subscriptions(
    session: SessionDep,
    who: AnyExchange,
    role: Annotated[
        Literal["subscriber", "owner", "any"],
        Query(description="Mine as subscriber, on topics I own, or (operators) any."),
    ] = "subscriber",
    status: SubscriptionStatus | None = None,
    topic: TopicQuery = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[SubscriptionPublic]:
    """The caller's subscriptions, or the requests on the topics it owns (`role=owner`:
    the pending ones to decide), oldest first."""
    key = decode_cursor(cursor, int)
    items = await service.list_for(
        session,
        who=who,
        role=role,
        status=status,
        topic=topic,
        after=key[0] if key else 0,
        limit=limit + 1,
    )
    return page(items, limit, key=lambda s: (s.id,), item=lambda s: s)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionPublic,
    summary="Get a subscription",
)
async def get_subscription(
    subscription_id: SubscriptionPath, session: SessionDep, who: AnyExchange
) -> SubscriptionPublic:
    """A subscription with its status, its webhook's health and how far it has read."""
    return await service.get(session, who=who, subscription_id=subscription_id)


@router.post(
    "/subscriptions/{subscription_id}/decision",
    response_model=SubscriptionPublic,
    summary="Approve or refuse a subscription request",
    responses=problem_responses(ProblemCode.FORBIDDEN, ProblemCode.NOT_PENDING),
)
async def decide_subscription(
    subscription_id: SubscriptionPath, body: Decision, session: SessionDep, who: CatalogEditor
) -> SubscriptionPublic:
    """The topic's owner approves a pending request (its feed starts delivering) or refuses
    it with a reason. A request already decided is a 409 `not_pending`."""
    return await service.decide(session, who=who, subscription_id=subscription_id, decision=body)


@router.post(
    "/subscriptions/{subscription_id}/revoke",
    response_model=SubscriptionPublic,
    summary="Revoke a subscription",
    responses=problem_responses(ProblemCode.NOT_ACTIVE),
)
async def revoke_subscription(
    subscription_id: SubscriptionPath, body: Revocation, session: SessionDep, who: AnyExchange
) -> SubscriptionPublic:
    """End an approved subscription (its subscriber, the topic's owner or an operator),
    with a reason: its feed and webhook stop delivering. One that is not approved is a 409
    `not_active`."""
    return await service.revoke(
        session, who=who, subscription_id=subscription_id, reason=body.reason
    )


@router.put(
    "/subscriptions/{subscription_id}/webhook",
    response_model=WebhookSecret,
    summary="Set a subscription's webhook",
    responses=problem_responses(ProblemCode.NOT_ACTIVE),
)
async def set_webhook(
    subscription_id: SubscriptionPath,
    body: WebhookSet,
    session: SessionDep,
    who: Subscriber,
    ctx: Context,
) -> WebhookSecret:
    """Set (or replace) the endpoint the subscription's records are posted to (Standard
    Webhooks, signed with the secret in this reply, shown once); this also resumes a paused
    webhook. The URL's host must resolve to addresses the hub's webhook policy permits
    (public ones unless an operator allows others), else a 422 naming `url`; redirects are
    not followed. A revoked or refused subscription is a 409 `not_active`."""
    secret = await service.set_webhook(
        session,
        who=who,
        subscription_id=subscription_id,
        url=str(body.url),
        policy=exchange_state(ctx).webhook_policy,
    )
    assert secret is not None  # a URL was set
    await session.commit()
    wake_webhooks(ctx)
    return secret


@router.post(
    "/subscriptions/{subscription_id}/webhook/resume",
    response_model=SubscriptionPublic,
    summary="Resume a paused webhook",
    responses=problem_responses(ProblemCode.NO_WEBHOOK, ProblemCode.NOT_ACTIVE),
)
async def resume_webhook(
    subscription_id: SubscriptionPath, session: SessionDep, who: Subscriber, ctx: Context
) -> SubscriptionPublic:
    """Resume a webhook paused after its endpoint kept failing (the subscriber or an
    operator): the deliveries that waited go out, oldest first. A subscription without a
    webhook is a 409 `no_webhook`, a revoked or refused one a 409 `not_active`."""
    resumed = await service.resume_webhook(session, who=who, subscription_id=subscription_id)
    await session.commit()
    wake_webhooks(ctx)
    return resumed


@router.delete(
    "/subscriptions/{subscription_id}/webhook",
    status_code=204,
    summary="Remove a subscription's webhook",
)
async def remove_webhook(
    subscription_id: SubscriptionPath, session: SessionDep, who: Subscriber, ctx: Context
) -> Response:
    """Stop posting the subscription's records; the deliveries not yet made wait for a
    webhook set later (the feed still delivers)."""
    await service.set_webhook(
        session,
        who=who,
        subscription_id=subscription_id,
        url=None,
        policy=exchange_state(ctx).webhook_policy,
    )
    return Response(status_code=204)
