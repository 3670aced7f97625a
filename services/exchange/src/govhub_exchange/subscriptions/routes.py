"""Subscription requests and decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from govhub_common.db import SessionDep
from govhub_common.security import Principal, require_scope
from govhub_exchange.delivery.notify import wake_webhooks
from govhub_exchange.deps import CatalogEditor, Context, Limit, Subscriber
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


@router.post("/subscriptions", status_code=201, response_model=SubscriptionPublic)
async def request_subscription(
    body: SubscriptionCreate, session: SessionDep, who: Subscriber
) -> SubscriptionPublic:
    return await service.request(session, who=who, body=body)


@router.get("/subscriptions")
async def list_subscriptions(
    session: SessionDep,
    who: AnyExchange,
    role: Annotated[
        Literal["subscriber", "owner", "any"],
        Query(description="Mine as subscriber, on topics I own, or (operators) any."),
    ] = "subscriber",
    status: SubscriptionStatus | None = None,
    topic: str | None = None,
    after: int = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    items = await service.list_for(
        session, who=who, role=role, status=status, topic=topic, after=after, limit=limit
    )
    return {"data": items, "next": items[-1].id if len(items) == limit else None}


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionPublic)
async def get_subscription(
    subscription_id: int, session: SessionDep, who: AnyExchange
) -> SubscriptionPublic:
    return await service.get(session, who=who, subscription_id=subscription_id)


@router.post("/subscriptions/{subscription_id}/decision", response_model=SubscriptionPublic)
async def decide(
    subscription_id: int, body: Decision, session: SessionDep, who: CatalogEditor
) -> SubscriptionPublic:
    return await service.decide(session, who=who, subscription_id=subscription_id, decision=body)


@router.post("/subscriptions/{subscription_id}/revoke", response_model=SubscriptionPublic)
async def revoke(
    subscription_id: int, body: Revocation, session: SessionDep, who: AnyExchange
) -> SubscriptionPublic:
    return await service.revoke(
        session, who=who, subscription_id=subscription_id, reason=body.reason
    )


@router.put("/subscriptions/{subscription_id}/webhook", response_model=WebhookSecret)
async def set_webhook(
    subscription_id: int, body: WebhookSet, session: SessionDep, who: Subscriber, ctx: Context
) -> WebhookSecret | None:
    """Set (or replace) the endpoint; this also resumes a paused webhook."""
    secret = await service.set_webhook(
        session, who=who, subscription_id=subscription_id, url=str(body.url)
    )
    await session.commit()
    wake_webhooks(ctx)
    return secret


@router.post("/subscriptions/{subscription_id}/webhook/resume", response_model=SubscriptionPublic)
async def resume_webhook(
    subscription_id: int, session: SessionDep, who: Subscriber, ctx: Context
) -> SubscriptionPublic:
    """Resume a webhook paused after its endpoint kept failing (the subscriber or an
    operator): the deliveries that waited go out, oldest first."""
    resumed = await service.resume_webhook(session, who=who, subscription_id=subscription_id)
    await session.commit()
    wake_webhooks(ctx)
    return resumed


@router.delete("/subscriptions/{subscription_id}/webhook", status_code=204)
async def remove_webhook(subscription_id: int, session: SessionDep, who: Subscriber) -> Response:
    await service.set_webhook(session, who=who, subscription_id=subscription_id, url=None)
    return Response(status_code=204)
