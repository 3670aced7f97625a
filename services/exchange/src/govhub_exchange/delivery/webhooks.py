"""Webhook delivery: claim due deliveries, post them signed per Standard Webhooks, retry
with exponential backoff and jitter, park as dead after the last attempt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from govhub_common.clock import utcnow
from govhub_common.runtime import ServiceContext
from govhub_exchange.audit import service as audit
from govhub_exchange.metrics import DELIVERY_LATENCY, WEBHOOK_ATTEMPTS
from govhub_exchange.publishing.service import EVENT_TYPE
from govhub_exchange.settings import ExchangeSettings

log = logging.getLogger("govhub.exchange.webhooks")


def backoff_seconds(attempts: int, settings: ExchangeSettings) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    ceiling = min(
        settings.webhook_backoff_max_seconds,
        settings.webhook_backoff_base_seconds * 2 ** max(0, attempts - 1),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)


async def claim_due(session: AsyncSession, *, batch: int, lease_seconds: float) -> list[Any]:
    """Take due deliveries for a lease (SKIP LOCKED: replicas share the work); a crash
    leaves them to be retried, with the same webhook id, when the lease ends."""
    result = await session.execute(
        sa.text(
            "WITH due AS (SELECT subscription_id, seq FROM exchange.webhook_deliveries "
            "WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at "
            "LIMIT :n FOR UPDATE SKIP LOCKED), "
            "claimed AS (UPDATE exchange.webhook_deliveries w SET attempts = w.attempts + 1, "
            "next_attempt_at = now() + make_interval(secs => :lease) FROM due "
            "WHERE w.subscription_id = due.subscription_id AND w.seq = due.seq "
            "RETURNING w.subscription_id, w.seq, w.webhook_id, w.attempts) "
            "SELECT c.*, s.topic_code, s.subscriber, s.items, s.webhook_url, s.webhook_secret, "
            "r.record_id, r.version, r.topic_version, r.business_time, r.published_at, "
            "r.data::text AS data FROM claimed c "
            "JOIN exchange.subscriptions s ON s.id = c.subscription_id "
            "JOIN exchange.records r ON r.topic_code = s.topic_code AND r.seq = c.seq"
        ),
        {"n": batch, "lease": lease_seconds},
    )
    return list(result.all())


def webhook_request(row: Any, *, now: datetime) -> tuple[bytes, dict[str, str]]:
    granted = set(row.items)
    data = {k: v for k, v in orjson.loads(row.data).items() if k in granted}
    body = orjson.dumps(
        {
            "type": EVENT_TYPE,
            "timestamp": now,
            "data": {
                "subscription_id": row.subscription_id,
                "topic": row.topic_code,
                "seq": row.seq,
                "record_id": row.record_id,
                "version": row.version,
                "topic_version": row.topic_version,
                "business_time": row.business_time,
                "published_at": row.published_at,
                "data": data,
            },
        }
    )
    signature = Webhook(row.webhook_secret).sign(row.webhook_id, now, body.decode())
    headers = {
        "content-type": "application/json",
        "webhook-id": row.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body, headers


async def _post(
    client: httpx.AsyncClient, row: Any, sem: asyncio.Semaphore
) -> tuple[Any, str | None, int | None]:
    async with sem:
        if not row.webhook_url:
            return row, "the subscription has no webhook any more", None
        body, headers = webhook_request(row, now=datetime.now(UTC))
        try:
            response = await client.post(row.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return row, f"{type(exc).__name__}: {exc}"[:500], None
        if 200 <= response.status_code < 300:
            return row, None, response.status_code
        return row, f"HTTP {response.status_code}", response.status_code


async def deliver_round(ctx: ServiceContext, client: httpx.AsyncClient) -> int:
    """One round: claim, post, record outcomes. Returns how many were attempted."""
    settings: ExchangeSettings = ctx.settings
    async with ctx.db.session() as session:
        rows = await claim_due(session, batch=200, lease_seconds=settings.webhook_lease_seconds)
    if not rows:
        return 0
    sem = asyncio.Semaphore(settings.webhook_concurrency)
    results = await asyncio.gather(*(_post(client, row, sem) for row in rows))
    now = utcnow()
    delivered, retry, dead = [], [], []
    for row, error, status in results:
        if error is None:
            delivered.append((row, status))
            DELIVERY_LATENCY.labels(row.topic_code, "webhook").observe(
                max(0.0, (now - row.published_at).total_seconds())
            )
            WEBHOOK_ATTEMPTS.labels(row.subscriber, "success").inc()
        elif row.attempts >= settings.webhook_max_attempts:
            dead.append((row, error, status))
            WEBHOOK_ATTEMPTS.labels(row.subscriber, "dead").inc()
        else:
            retry.append((row, error, status))
            WEBHOOK_ATTEMPTS.labels(row.subscriber, "retry").inc()
    async with ctx.db.session() as session:
        if delivered:
            await session.execute(
                sa.text(
                    "UPDATE exchange.webhook_deliveries w SET status = 'delivered', delivered_at = now(), "
                    "last_status = u.code, last_error = NULL FROM unnest(CAST(:subs AS bigint[]), "
                    "CAST(:seqs AS bigint[]), CAST(:codes AS int[])) u(sub, seq, code) "
                    "WHERE w.subscription_id = u.sub AND w.seq = u.seq"
                ),
                {
                    "subs": [r.subscription_id for r, _ in delivered],
                    "seqs": [r.seq for r, _ in delivered],
                    "codes": [s for _, s in delivered],
                },
            )
        for outcome, items in (("pending", retry), ("dead", dead)):
            if not items:
                continue
            await session.execute(
                sa.text(
                    "UPDATE exchange.webhook_deliveries w SET status = :status, last_error = u.err, "
                    "last_status = u.code, next_attempt_at = now() + make_interval(secs => u.delay) "
                    "FROM unnest(CAST(:subs AS bigint[]), CAST(:seqs AS bigint[]), "
                    "CAST(:errs AS text[]), CAST(:codes AS int[]), CAST(:delays AS float8[])) "
                    "u(sub, seq, err, code, delay) WHERE w.subscription_id = u.sub AND w.seq = u.seq"
                ),
                {
                    "status": outcome,
                    "subs": [r.subscription_id for r, _, _ in items],
                    "seqs": [r.seq for r, _, _ in items],
                    "errs": [e for _, e, _ in items],
                    "codes": [c for _, _, c in items],
                    "delays": [backoff_seconds(r.attempts, settings) for r, _, _ in items],
                },
            )
        per_subscription = Counter(r.subscription_id for r, _ in delivered)
        if per_subscription or dead:
            await audit.append(
                session,
                actor="gz-datacenter",
                action="records.delivered",
                details={
                    "mode": "webhook",
                    "delivered": {str(k): v for k, v in sorted(per_subscription.items())},
                    "dead": [[r.subscription_id, r.seq] for r, _, _ in dead],
                },
            )
    return len(rows)


async def run_webhooks(ctx: ServiceContext) -> None:
    """Background task: deliver until cancelled, woken by publishes or a poll."""
    settings: ExchangeSettings = ctx.settings
    wake: asyncio.Event = ctx.state.setdefault("webhook_wake", asyncio.Event())
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
        while True:
            wake.clear()
            try:
                attempted = await deliver_round(ctx, client)
            except Exception:
                log.exception("webhook round failed")
                attempted = 0
                await asyncio.sleep(1.0)
            if attempted:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=settings.webhook_poll_seconds)


async def redrive(
    session: AsyncSession, *, actor: str, subscription_id: int | None, seq: int | None
) -> int:
    """Operators: put dead deliveries (one, a subscription's, or all) back in the queue."""
    count = (
        await session.execute(
            sa.text(
                "WITH moved AS (UPDATE exchange.webhook_deliveries SET status = 'pending', "
                "attempts = 0, next_attempt_at = now() WHERE status = 'dead' "
                "AND (CAST(:sub AS bigint) IS NULL OR subscription_id = :sub) "
                "AND (CAST(:seq AS bigint) IS NULL OR seq = :seq) RETURNING 1) "
                "SELECT count(*) FROM moved"
            ),
            {"sub": subscription_id, "seq": seq},
        )
    ).scalar_one()
    await audit.append(
        session,
        actor=actor,
        action="webhooks.redriven",
        details={"subscription_id": subscription_id, "seq": seq, "count": count},
    )
    return int(count)


async def dead_letters(
    session: AsyncSession, *, subscription_id: int | None, after: tuple[int, int], limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        sa.text(
            "SELECT w.subscription_id, s.subscriber, s.topic_code AS topic, w.seq, r.record_id, "
            "w.webhook_id, w.attempts, w.last_error, w.last_status, w.created_at "
            "FROM exchange.webhook_deliveries w JOIN exchange.subscriptions s ON s.id = w.subscription_id "
            "JOIN exchange.records r ON r.topic_code = s.topic_code AND r.seq = w.seq "
            "WHERE w.status = 'dead' AND (CAST(:sub AS bigint) IS NULL OR w.subscription_id = :sub) "
            "AND (w.subscription_id, w.seq) > (:a_sub, :a_seq) "
            "ORDER BY w.subscription_id, w.seq LIMIT :limit"
        ),
        {"sub": subscription_id, "a_sub": after[0], "a_seq": after[1], "limit": limit},
    )
    return [dict(row._mapping) for row in rows]
