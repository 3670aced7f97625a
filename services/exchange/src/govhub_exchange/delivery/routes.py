"""Feeds, delivery status, subscription figures and webhook dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from govhub_common.db import SessionDep
from govhub_common.problems import Problem
from govhub_common.security import Operator, Principal, require_scope
from govhub_exchange.delivery import service, webhooks
from govhub_exchange.delivery.notify import notifier, wake_webhooks
from govhub_exchange.deps import Context, Limit, Settings, Subscriber
from govhub_exchange.subscriptions import service as subscriptions

router = APIRouter(prefix="/v1", tags=["delivery"])

AnyExchange = Annotated[
    Principal,
    Depends(require_scope("exchange:subscribe", "exchange:catalog", "exchange:publish")),
]


@router.get("/subscriptions/{subscription_id}/records")
async def feed(
    subscription_id: int,
    who: Subscriber,
    ctx: Context,
    settings: Settings,
    after: Annotated[int, Query(ge=0, description="Cursor: the `next` of the previous page.")] = 0,
    limit: Annotated[int, Query(ge=1)] = 1000,
    wait: Annotated[
        float, Query(ge=0, description="Seconds to wait for new records when none are there.")
    ] = 0,
) -> Response:
    """Records after the cursor, with only the granted data items. Reading with `after=N`
    acknowledges every record up to N."""
    limit = min(limit, settings.feed_max_limit)
    deadline = asyncio.get_running_loop().time() + min(wait, settings.feed_max_wait_seconds)
    while True:
        async with ctx.db.session() as session:
            grant = await service.feed_grant(session, who=who, subscription_id=subscription_id)
            # Taken before the query, so a publish committing after it still wakes us.
            woken = notifier(ctx).current(grant["topic"])
            page = await service.read_and_acknowledge(
                session, grant=grant, after=after, limit=limit
            )
        remaining = deadline - asyncio.get_running_loop().time()
        if page.count or remaining <= 0:
            return Response(service.page_body(page, after), media_type="application/json")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout=remaining)


@router.get("/subscriptions/{subscription_id}/stats")
async def stats(subscription_id: int, session: SessionDep, who: AnyExchange) -> dict[str, Any]:
    """Lag in records and seconds, delivery progress and webhook attempts."""
    await subscriptions.get(session, who=who, subscription_id=subscription_id)
    return await service.subscription_stats(session, subscription_id=subscription_id)


@router.get("/deliveries")
async def deliveries(
    session: SessionDep,
    who: AnyExchange,
    topic: str,
    record_id: str | None = None,
    subscriber: str | None = None,
    status: Literal["pending", "delivered", "acknowledged", "dead"] | None = None,
    before: int | None = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Delivery status per record and subscriber (feed and webhook)."""
    rows = await service.delivery_status(
        session,
        who=who,
        topic=topic,
        record_id=record_id,
        subscriber=subscriber,
        status=status,
        before=before,
        limit=limit,
    )
    return {"data": rows, "next": rows[-1]["seq"] if len(rows) == limit else None}


@router.get("/webhooks/dead-letters")
async def dead_letters(
    session: SessionDep,
    who: Operator,
    subscription_id: int | None = None,
    after: str = "",
    limit: Limit = 100,
) -> dict[str, Any]:
    try:
        cursor = tuple(int(x) for x in after.split("/")) if after else (0, 0)
        a_sub, a_seq = cursor
    except ValueError:
        raise Problem(
            422,
            "validation_failed",
            "after must be a cursor returned as next",
            errors=[{"path": "query:$.after", "message": "expected <subscription>/<seq>"}],
        ) from None
    rows = await webhooks.dead_letters(
        session, subscription_id=subscription_id, after=(a_sub, a_seq), limit=limit
    )
    last = rows[-1] if len(rows) == limit else None
    return {"data": rows, "next": f"{last['subscription_id']}/{last['seq']}" if last else None}


class Redrive(BaseModel):
    subscription_id: int | None = None
    seq: int | None = None


@router.post("/webhooks/redrive")
async def redrive(
    body: Redrive, session: SessionDep, who: Operator, ctx: Context
) -> dict[str, int]:
    """Re-drive dead webhook deliveries: one (subscription and seq), a subscription's, or all."""
    if body.seq is not None and body.subscription_id is None:
        raise Problem(
            422,
            "validation_failed",
            "seq needs subscription_id",
            errors=[{"path": "$.subscription_id", "message": "required with seq"}],
        )
    count = await webhooks.redrive(
        session, actor=who.agency, subscription_id=body.subscription_id, seq=body.seq
    )
    await session.commit()
    wake_webhooks(ctx)
    return {"redriven": count}
