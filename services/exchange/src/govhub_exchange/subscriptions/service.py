"""Subscription requests, the owner's decisions, revocation and webhook endpoints. Plain
reads and writes, through the models (subscriptions/models.py)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.outbox import add_events
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, forbidden, not_found
from govhub_common.security import Principal
from govhub_common.subscription_events import (
    ANNOUNCE_SIZE,
    EVENT_OF_STATUS,
    SUBSCRIPTIONS_ANNOUNCED,
    grant_entry,
    subscription_event,
)
from govhub_exchange.audit import service as audit
from govhub_exchange.catalog import service as catalog
from govhub_exchange.catalog.models import DataItem, Topic
from govhub_exchange.delivery import endpoints
from govhub_exchange.delivery.models import WebhookDelivery
from govhub_exchange.delivery.targets import WebhookPolicy, check_webhook_url
from govhub_exchange.identity.models import Agency
from govhub_exchange.subscriptions.models import Subscription
from govhub_exchange.subscriptions.schemas import (
    Decision,
    SubscriptionCreate,
    SubscriptionPublic,
    WebhookSecret,
)

# A subscription with its topic's owner, read as a row, never as an object the session
# keeps: the updates below are statements, which a kept object would not see.
_SUBSCRIPTION = sa.select(
    col(Subscription.id),
    col(Subscription.topic_code),
    col(Topic.owner),
    col(Subscription.subscriber),
    col(Subscription.purpose),
    col(Subscription.items),
    col(Subscription.status),
    col(Subscription.reason),
    col(Subscription.requested_at),
    col(Subscription.decided_at),
    col(Subscription.decided_by),
    col(Subscription.webhook_url),
    col(Subscription.delivered_seq),
    col(Subscription.acked_seq),
    col(Subscription.webhook_status),
    col(Subscription.webhook_paused_reason),
    col(Subscription.webhook_paused_since),
    col(Subscription.webhook_failures),
    col(Subscription.webhook_failing_since),
    col(Subscription.webhook_last_error),
    col(Subscription.webhook_retry_at),
    col(Subscription.webhook_delivered_seq),
    # How long a request has waited for the owner's decision, in seconds.
    sa.case(
        (
            col(Subscription.status) == "pending",
            sa.extract("epoch", sa.func.now() - col(Subscription.requested_at)),
        )
    ).label("age"),
).join_from(Subscription, Topic, col(Topic.code) == col(Subscription.topic_code))


def _public(row: Any) -> SubscriptionPublic:
    return SubscriptionPublic(
        id=row.id,
        topic=row.topic_code,
        owner=row.owner,
        subscriber=row.subscriber,
        purpose=row.purpose,
        items=list(row.items),
        status=row.status,
        reason=row.reason,
        requested_at=row.requested_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        pending_age_seconds=float(row.age) if row.age is not None else None,
        webhook_url=row.webhook_url,
        webhook_status=row.webhook_status if row.webhook_url else None,
        webhook_paused_reason=row.webhook_paused_reason,
        webhook_paused_since=row.webhook_paused_since,
        webhook_consecutive_failures=row.webhook_failures,
        webhook_failing_since=row.webhook_failing_since,
        webhook_last_error=row.webhook_last_error,
        webhook_retry_at=row.webhook_retry_at,
        webhook_delivered_seq=row.webhook_delivered_seq,
        delivered_seq=row.delivered_seq,
        acked_seq=row.acked_seq,
    )


async def _row(session: AsyncSession, *, subscription_id: int, lock: bool = False) -> Any:
    statement = _SUBSCRIPTION.where(col(Subscription.id) == subscription_id)
    if lock:
        statement = statement.with_for_update(of=Subscription)
    row = (await session.execute(statement)).first()
    if row is None:
        raise not_found("subscription", subscription_id)
    return row


async def request(
    session: AsyncSession, *, who: Principal, body: SubscriptionCreate
) -> SubscriptionPublic:
    subscriber = body.subscriber or who.agency
    if subscriber != who.agency:
        if not who.is_operator:
            raise forbidden("only operators may request a subscription for another agency")
        registered = (
            await session.execute(sa.select(col(Agency.code)).where(col(Agency.code) == subscriber))
        ).first()
        if registered is None:
            raise Problem(
                ProblemCode.UNKNOWN_AGENCY,
                f"agency {subscriber} is not registered",
                errors=[{"path": "$.subscriber", "message": "unknown agency"}],
            )
    topic = await catalog.get_topic_row(session, code=body.topic)
    known = set(
        (
            await session.execute(
                sa.select(col(DataItem.name)).where(col(DataItem.topic_code) == body.topic)
            )
        ).scalars()
    )
    unknown = [(i, name) for i, name in enumerate(body.items) if name not in known]
    if unknown:
        raise Problem(
            ProblemCode.UNKNOWN_DATA_ITEMS,
            f"topic {body.topic} has no data items {', '.join(n for _, n in unknown)}",
            errors=[
                {"path": f"$.items[{i}]", "message": f"unknown data item {n}"} for i, n in unknown
            ],
        )
    if topic.sharing_type == "unconditional":
        status, reason, decided_by = "approved", "unconditional sharing", "system"
    elif topic.sharing_type == "not_shared":
        status, reason, decided_by = "refused", f"not shared: {topic.legal_basis}", "system"
    else:
        status, reason, decided_by = "pending", None, None
    subscription_id = (
        await session.execute(
            insert(Subscription)
            .values(
                topic_code=body.topic,
                subscriber=subscriber,
                purpose=body.purpose,
                items=sorted(set(body.items)),
                status=status,
                reason=reason,
                decided_at=None if status == "pending" else sa.func.now(),
                decided_by=decided_by,
            )
            .returning(col(Subscription.id))
        )
    ).scalar_one()
    assert subscription_id is not None  # an identity column
    await audit.append(
        session,
        actor=who.actor,
        action=f"subscription.{'requested' if status == 'pending' else status}",
        agency=subscriber,
        topic=body.topic,
        details={
            "subscription_id": subscription_id,
            "items": sorted(set(body.items)),
            "purpose": body.purpose,
            "status": status,
        },
    )
    row = await _row(session, subscription_id=subscription_id)
    if status != "pending":  # decided at once: unconditional or not shared
        await _stage_decision(session, row)
    return _public(row)


async def _update(session: AsyncSession, subscription_id: int, **values: Any) -> None:
    await session.execute(
        sa.update(Subscription)
        .where(col(Subscription.id) == subscription_id)
        .values(**values)
        # The UPDATE as written, no RETURNING added to sync the session (rows, above).
        .execution_options(synchronize_session=False)
    )


def _grant(row: Any) -> dict[str, Any]:
    return grant_entry(
        subscription_id=row.id,
        topic=row.topic_code,
        subscriber=row.subscriber,
        status=row.status,
        items=row.items,
        at=row.decided_at,
    )


async def _stage_decision(session: AsyncSession, row: Any) -> None:
    """In the transaction of the decision: services that show an agency only what it is
    granted (alerting's evidence) learn the grant, or its end (subscription_events)."""
    await add_events(
        session, "exchange", [subscription_event(EVENT_OF_STATUS[row.status], [_grant(row)])]
    )


async def announce_grants(session: AsyncSession) -> None:
    """Every approved subscription, for services that subscribed after they were decided
    (staged at each start of the exchange; applying it again changes nothing)."""
    rows = (
        await session.execute(
            _SUBSCRIPTION.where(col(Subscription.status) == "approved").order_by(
                col(Subscription.id)
            )
        )
    ).all()
    entries = [_grant(row) for row in rows]
    await add_events(
        session,
        "exchange",
        [
            subscription_event(SUBSCRIPTIONS_ANNOUNCED, entries[i : i + ANNOUNCE_SIZE])
            for i in range(0, len(entries), ANNOUNCE_SIZE)
        ],
    )


def can_view(who: Principal, row: Any) -> bool:
    return who.is_operator or who.agency in (row.subscriber, row.owner)


async def get(session: AsyncSession, *, who: Principal, subscription_id: int) -> SubscriptionPublic:
    row = await _row(session, subscription_id=subscription_id)
    if not can_view(who, row):
        raise not_found("subscription", subscription_id)
    return _public(row)


async def list_for(
    session: AsyncSession,
    *,
    who: Principal,
    role: str,
    status: str | None,
    topic: str | None,
    after: int,
    limit: int,
) -> list[SubscriptionPublic]:
    statement = _SUBSCRIPTION.where(col(Subscription.id) > after)
    if role == "owner":
        statement = statement.where(col(Topic.owner) == who.agency)
    elif not (who.is_operator and role == "any"):  # an operator's "any" sees them all
        statement = statement.where(col(Subscription.subscriber) == who.agency)
    if status is not None:
        statement = statement.where(col(Subscription.status) == status)
    if topic is not None:
        statement = statement.where(col(Subscription.topic_code) == topic)
    rows = await session.execute(statement.order_by(col(Subscription.id)).limit(limit))
    return [_public(row) for row in rows]


async def decide(
    session: AsyncSession, *, who: Principal, subscription_id: int, decision: Decision
) -> SubscriptionPublic:
    row = await _row(session, subscription_id=subscription_id, lock=True)
    if not can_view(who, row):  # as GET answers: no word of whether it exists
        raise not_found("subscription", subscription_id)
    if who.agency != row.owner and not who.is_operator:
        raise forbidden("only the topic's owner decides requests")
    if row.status != "pending":
        raise Problem(ProblemCode.NOT_PENDING, f"subscription {subscription_id} is {row.status}")
    status = "approved" if decision.approve else "refused"
    await _update(
        session,
        subscription_id,
        status=status,
        reason=decision.reason,
        decided_at=sa.func.now(),
        decided_by=who.actor,
    )
    await audit.append(
        session,
        actor=who.actor,
        action=f"subscription.{status}",
        agency=row.subscriber,
        topic=row.topic_code,
        details={"subscription_id": subscription_id, "reason": decision.reason},
    )
    decided = await _row(session, subscription_id=subscription_id)
    await _stage_decision(session, decided)
    return _public(decided)


async def revoke(
    session: AsyncSession, *, who: Principal, subscription_id: int, reason: str
) -> SubscriptionPublic:
    # The audit chain before the row, in the order the webhook recorder takes them.
    await audit.lock_chain(session)
    row = await _row(session, subscription_id=subscription_id, lock=True)
    # The owner, the subscriber or an operator: whoever can see it (GET's 404 otherwise).
    if not can_view(who, row):
        raise not_found("subscription", subscription_id)
    if row.status not in ("approved", "pending"):
        raise Problem(ProblemCode.NOT_ACTIVE, f"subscription {subscription_id} is {row.status}")
    await _update(
        session,
        subscription_id,
        status="revoked",
        reason=reason,
        decided_at=sa.func.now(),
        decided_by=who.actor,
    )
    # Webhook deliveries not made end with the grant: pending ones are never claimed, dead
    # ones never re-driven (claims and re-drives also look at the status, for the rows a
    # post in flight at this moment leaves behind).
    await session.execute(
        sa.delete(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == subscription_id,
            col(WebhookDelivery.status).in_(("pending", "dead")),
        )
        .execution_options(synchronize_session=False)
    )
    await audit.append(
        session,
        actor=who.actor,
        action="subscription.revoked",
        agency=row.subscriber,
        topic=row.topic_code,
        details={"subscription_id": subscription_id, "reason": reason},
    )
    revoked = await _row(session, subscription_id=subscription_id)
    await _stage_decision(session, revoked)
    return _public(revoked)


def _may_set(who: Principal, row: Any) -> None:
    if who.agency != row.subscriber and not who.is_operator:
        raise not_found("subscription", row.id)
    _still_active(row)


def _still_active(row: Any) -> None:
    """A webhook is set or resumed only while the subscription may yet deliver (approved,
    or pending the owner's decision): a revoked or refused one gets nothing by any path."""
    if row.status not in ("approved", "pending"):
        raise Problem(ProblemCode.NOT_ACTIVE, f"subscription {row.id} is {row.status}")


async def set_webhook(
    session: AsyncSession,
    *,
    who: Principal,
    subscription_id: int,
    url: str | None,
    policy: WebhookPolicy,
) -> WebhookSecret | None:
    """A new endpoint (or the same again) starts healthy: setting it resumes a paused
    webhook. Removing it keeps the pending deliveries for a webhook set later. A URL must
    pass the webhook address policy (delivery/targets.py)."""
    if url is not None:
        # Resolving the host may take seconds: before the chain's lock, which every
        # publish's audit entry waits for, and the row's.
        _may_set(who, await _row(session, subscription_id=subscription_id))
        await check_webhook_url(url, policy)
    await audit.lock_chain(session)
    row = await _row(session, subscription_id=subscription_id, lock=True)
    if who.agency != row.subscriber and not who.is_operator:
        raise not_found("subscription", subscription_id)
    if url is not None:
        _still_active(row)  # again under the lock: it may have been revoked meanwhile
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode() if url else None
    await _update(session, subscription_id, webhook_url=url, webhook_secret=secret)
    details: dict[str, Any] = {"subscription_id": subscription_id, "url": url}
    if url:
        details["resumed"] = await endpoints.reactivate(
            session, subscription=row, actor=who.actor, cause="webhook set"
        )
    await audit.append(
        session,
        actor=who.actor,
        action="subscription.webhook_set" if url else "subscription.webhook_removed",
        agency=row.subscriber,
        topic=row.topic_code,
        details=details,
    )
    if url is None or secret is None:
        return None
    return WebhookSecret(subscription_id=subscription_id, url=url, secret=secret)


async def resume_webhook(
    session: AsyncSession, *, who: Principal, subscription_id: int
) -> SubscriptionPublic:
    """The subscriber (its endpoint fixed) or an operator resumes a paused webhook: its
    pending deliveries go out again. On an active webhook it clears the endpoint's backoff."""
    await audit.lock_chain(session)
    row = await _row(session, subscription_id=subscription_id, lock=True)
    if who.agency != row.subscriber and not who.is_operator:
        raise not_found("subscription", subscription_id)
    _still_active(row)
    if not row.webhook_url:
        raise Problem(
            ProblemCode.NO_WEBHOOK, f"subscription {subscription_id} has no webhook to resume"
        )
    was_paused = await endpoints.reactivate(
        session, subscription=row, actor=who.actor, cause="resumed"
    )
    await audit.append(
        session,
        actor=who.actor,
        action="subscription.webhook_resumed",
        agency=row.subscriber,
        topic=row.topic_code,
        details={"subscription_id": subscription_id, "was_paused": was_paused},
    )
    return _public(await _row(session, subscription_id=subscription_id))
