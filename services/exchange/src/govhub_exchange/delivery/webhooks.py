"""Webhook delivery: a dispatcher claims due deliveries for subscriptions below their
concurrency limit, posts each signed per Standard Webhooks under a total deadline, and
records outcomes as posts finish. Failures retry with exponential backoff and jitter, per
delivery and per endpoint (delivery/endpoints.py); a delivery is parked as dead after its
last attempt, an endpoint that keeps failing is paused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
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
from govhub_exchange.delivery import endpoints
from govhub_exchange.delivery.endpoints import backoff_seconds
from govhub_exchange.delivery.grants import granted_data
from govhub_exchange.delivery.targets import public_error, webhook_client
from govhub_exchange.metrics import DELIVERY_LATENCY, WEBHOOK_ATTEMPTS
from govhub_exchange.publishing.service import EVENT_TYPE
from govhub_exchange.quality.facts import record_webhook_attempts
from govhub_exchange.settings import ExchangeSettings
from govhub_exchange.state import exchange_state

log = logging.getLogger("govhub.exchange.webhooks")

# The hub's own agency: the actor of what the dispatcher does.
HUB_ACTOR = "gz-datacenter"
# Of a reply, only this much is read (a receiver's body is not ours to hold), and a short
# excerpt of a refusal is kept as its error.
RESPONSE_READ_LIMIT = 4096
ERROR_EXCERPT_CHARS = 200

# One statement for every subscription (set-based): each gets at most its free slots
# (its limit, or one probe while its endpoint fails, less what is in flight anywhere),
# skipping paused, backed-off and revoked ones. Subscription rows are locked SKIP LOCKED,
# so replicas claim for different subscriptions and the limit holds across replicas.
# Stays SQL (the dispatcher's hot path): it writes WebhookDelivery, locks Subscription rows.
_CLAIM = f"""
WITH open AS (
    SELECT s.id, s.webhook_failures > 0 AS probe,
        CASE WHEN s.webhook_failures > 0 THEN 1 ELSE :per_subscription END
        - (SELECT count(*) FROM exchange.webhook_deliveries f
           WHERE f.subscription_id = s.id AND f.leased_until > now()) AS free
    FROM exchange.subscriptions s
    WHERE s.status = 'approved' AND s.webhook_url IS NOT NULL AND s.webhook_status = 'active'
      AND (s.webhook_retry_at IS NULL OR s.webhook_retry_at <= now())
    FOR NO KEY UPDATE OF s SKIP LOCKED
), due AS (
    SELECT d.subscription_id, d.seq, o.probe FROM open o
    CROSS JOIN LATERAL (
        SELECT w.subscription_id, w.seq, w.next_attempt_at FROM exchange.webhook_deliveries w
        WHERE w.subscription_id = o.id AND w.status = 'pending' AND w.next_attempt_at <= now()
        ORDER BY w.seq LIMIT greatest(o.free, 0)
        FOR UPDATE SKIP LOCKED
    ) d
    ORDER BY d.next_attempt_at LIMIT :capacity
), claimed AS (
    UPDATE exchange.webhook_deliveries w SET attempts = w.attempts + 1,
        next_attempt_at = now() + make_interval(secs => :lease),
        leased_until = now() + make_interval(secs => :lease)
    FROM due WHERE w.subscription_id = due.subscription_id AND w.seq = due.seq
    RETURNING w.subscription_id, w.seq, w.webhook_id, w.attempts, due.probe
)
SELECT c.*, s.topic_code, s.subscriber, s.items, s.webhook_url, s.webhook_secret,
    r.record_id, r.version, r.topic_version, r.business_time, r.published_at,
    {granted_data("r.data", granted="s.items", declared="declared.items")}::text AS data
FROM claimed c
JOIN exchange.subscriptions s ON s.id = c.subscription_id
CROSS JOIN LATERAL exchange.log_range(s.topic_code, c.seq, c.seq + 1) r
CROSS JOIN LATERAL (SELECT ARRAY(SELECT d.name FROM exchange.data_items d
    WHERE d.topic_code = s.topic_code) AS items) declared
"""


async def claim_due(
    session: AsyncSession, *, capacity: int, per_subscription: int, lease_seconds: float
) -> list[Any]:
    """Take due deliveries for a lease (SKIP LOCKED: replicas share the work); a crash
    leaves them to be retried, with the same webhook id, when the lease ends."""
    result = await session.execute(
        sa.text(_CLAIM),
        {"capacity": capacity, "per_subscription": per_subscription, "lease": lease_seconds},
    )
    return list(result.all())


def webhook_request(row: Any, *, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The signed post of a claimed delivery; its data was projected to the grant by the
    claim (delivery/grants.py), as the feed's is."""
    data = orjson.Fragment(row.data)
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


@dataclass(frozen=True)
class Outcome:
    """A finished post: no error is a success."""

    row: Any
    error: str | None
    status: int | None

    @property
    def subscription_id(self) -> int:
        return int(self.row.subscription_id)

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def probe(self) -> bool:
        return bool(self.row.probe)


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


async def post(client: httpx.AsyncClient, row: Any, *, deadline: float) -> Outcome:
    """One attempt, the whole exchange (connect, send, read the reply) under one deadline:
    httpx's own timeouts apply to each read, which a receiver trickling its reply never
    trips. The outcome's error is what the subscriber may read (targets.public_error); the
    cause of an attempt that got no HTTP answer is logged for operators only."""
    body, headers = webhook_request(row, now=datetime.now(UTC))
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(
                "POST", row.webhook_url, content=body, headers=headers
            ) as response:
                reply = await _read_at_most(response, RESPONSE_READ_LIMIT)
    except TimeoutError:
        return _no_answer(row, f"no complete reply within the {deadline:g} s deadline")
    except Exception as exc:  # httpx's errors, a denied address: a failed attempt all the same
        return _no_answer(row, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return Outcome(row, None, response.status_code)
    excerpt = reply.decode(errors="replace").strip()[:ERROR_EXCERPT_CHARS]
    return Outcome(row, public_error(response.status_code, excerpt), response.status_code)


def _no_answer(row: Any, cause: str) -> Outcome:
    log.warning(
        "webhook attempt of subscription %s (seq %s, %s) got no HTTP answer: %s",
        row.subscription_id,
        row.seq,
        row.webhook_id,
        cause,
    )
    return Outcome(row, public_error(None, ""), None)


# Stays SQL (set-based, per batch of outcomes): it writes Subscription's webhook_* health.
_UPDATE_ENDPOINTS = """
UPDATE exchange.subscriptions s SET
    webhook_failures = u.failures,
    webhook_failing_since = CASE u.failing WHEN 'clear' THEN NULL WHEN 'start' THEN now()
        ELSE s.webhook_failing_since END,
    webhook_last_error = CASE WHEN u.failures = 0 THEN NULL
        ELSE coalesce(u.last_error, s.webhook_last_error) END,
    webhook_retry_at = now() + make_interval(secs => u.retry_delay),
    webhook_status = CASE WHEN u.pause_reason IS NULL THEN s.webhook_status ELSE 'paused' END,
    webhook_paused_reason = coalesce(u.pause_reason, s.webhook_paused_reason),
    webhook_paused_since = CASE WHEN u.pause_reason IS NULL THEN s.webhook_paused_since
        ELSE now() END,
    -- The position below which every webhook is delivered: the subscription's lag counts
    -- it (records published before the webhook was set have no delivery to wait for).
    webhook_delivered_seq = CASE WHEN NOT u.delivered THEN s.webhook_delivered_seq
        ELSE greatest(s.webhook_delivered_seq, coalesce(
            (SELECT min(w.seq) - 1 FROM exchange.webhook_deliveries w
             WHERE w.subscription_id = s.id AND w.status IN ('pending', 'dead')),
            (SELECT max(w.seq) FROM exchange.webhook_deliveries w
             WHERE w.subscription_id = s.id), 0)) END
FROM unnest(CAST(:subs AS bigint[]), CAST(:failures AS int[]), CAST(:failing AS text[]),
            CAST(:errors AS text[]), CAST(:delays AS float8[]), CAST(:reasons AS text[]),
            CAST(:delivered AS boolean[]))
    AS u(sub, failures, failing, last_error, retry_delay, pause_reason, delivered)
WHERE s.id = u.sub
RETURNING s.id, s.topic_code, s.subscriber, u.pause_reason IS NOT NULL AS paused_now,
    s.webhook_paused_reason, s.webhook_paused_since, s.webhook_failures
"""


async def record_outcomes(
    session: AsyncSession, outcomes: list[Outcome], settings: ExchangeSettings
) -> None:
    """Deliveries and their endpoints' health, set-based, in the caller's transaction."""
    # The chain first, then the subscription rows, as the feed-delivery audit round takes
    # them: the other order deadlocks with it.
    await audit.lock_chain(session)
    # Recorders of one subscription take turns, so each statement below sees the
    # previous recorder's deliveries and failure count.
    ids = sorted({o.subscription_id for o in outcomes})
    # Stays SQL (the recorder's hot path): locks the Subscription rows, in id order.
    current = {
        row.id: row
        for row in await session.execute(
            sa.text(
                "SELECT id, webhook_status, webhook_failures, coalesce(extract(epoch FROM "
                "now() - webhook_failing_since), 0) AS failing_for FROM exchange.subscriptions "
                "WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE"
            ),
            {"ids": ids},
        )
    }
    health = {
        sub: endpoints.next_health(
            status=current[sub].webhook_status,
            failures=current[sub].webhook_failures,
            failing_for=float(current[sub].failing_for),
            tally=t,
            settings=settings,
        )
        for sub, t in endpoints.tally(outcomes).items()
        if sub in current
    }
    delivered = [o for o in outcomes if not o.failed]
    retry, dead = [], []
    for o in outcomes:
        if not o.failed:
            WEBHOOK_ATTEMPTS.labels(o.row.subscriber, "success").inc()
        elif o.row.attempts >= settings.webhook_max_attempts:
            dead.append(o)
            WEBHOOK_ATTEMPTS.labels(o.row.subscriber, "dead").inc()
        else:
            retry.append(o)
            WEBHOOK_ATTEMPTS.labels(o.row.subscriber, "retry").inc()
    if delivered:
        await session.execute(
            sa.text(
                "UPDATE exchange.webhook_deliveries w SET status = 'delivered', "
                "delivered_at = now(), leased_until = NULL, last_status = u.code, "
                "last_error = NULL FROM unnest(CAST(:subs AS bigint[]), CAST(:seqs AS bigint[]), "
                "CAST(:codes AS int[])) u(sub, seq, code) "
                "WHERE w.subscription_id = u.sub AND w.seq = u.seq"
            ),
            {
                "subs": [o.row.subscription_id for o in delivered],
                "seqs": [o.row.seq for o in delivered],
                "codes": [o.status for o in delivered],
            },
        )
    for status, items in (("pending", retry), ("dead", dead)):
        if not items:
            continue
        await session.execute(
            sa.text(
                "UPDATE exchange.webhook_deliveries w SET status = :status, leased_until = NULL, "
                "last_error = u.err, last_status = u.code, "
                "next_attempt_at = now() + make_interval(secs => u.delay) "
                "FROM unnest(CAST(:subs AS bigint[]), CAST(:seqs AS bigint[]), "
                "CAST(:errs AS text[]), CAST(:codes AS int[]), CAST(:delays AS float8[])) "
                "u(sub, seq, err, code, delay) WHERE w.subscription_id = u.sub AND w.seq = u.seq"
            ),
            {
                "status": status,
                "subs": [o.row.subscription_id for o in items],
                "seqs": [o.row.seq for o in items],
                "errs": [o.error for o in items],
                "codes": [o.status for o in items],
                "delays": [_retry_delay(o, health.get(o.subscription_id), settings) for o in items],
            },
        )
    dead_ids = {id(o) for o in dead}
    await record_webhook_attempts(
        session,
        [(o.row.subscriber, o.row.topic_code, o.failed, id(o) in dead_ids) for o in outcomes],
    )
    subs = sorted(health)
    changed = (
        await session.execute(
            sa.text(_UPDATE_ENDPOINTS),
            {
                "subs": subs,
                "failures": [health[s].failures for s in subs],
                "failing": [health[s].failing for s in subs],
                "errors": [_last_error(outcomes, s) for s in subs],
                "delays": [health[s].retry_delay for s in subs],
                "reasons": [health[s].pause_reason for s in subs],
                "delivered": [any(o.subscription_id == s for o in delivered) for s in subs],
            },
        )
    ).all()
    per_subscription = Counter(o.subscription_id for o in delivered)
    if per_subscription or dead:
        await audit.append(
            session,
            actor=HUB_ACTOR,
            action="records.delivered",
            details={
                "mode": "webhook",
                "delivered": {str(k): v for k, v in sorted(per_subscription.items())},
                "dead": [[o.row.subscription_id, o.row.seq] for o in dead],
            },
        )
    paused = [row for row in changed if row.paused_now]
    for row in paused:
        await audit.append(
            session,
            actor=HUB_ACTOR,
            action="subscription.webhook_paused",
            agency=row.subscriber,
            topic=row.topic_code,
            details={
                "subscription_id": row.id,
                "reason": row.webhook_paused_reason,
                "consecutive_failures": row.webhook_failures,
            },
        )
    await endpoints.announce_paused(session, paused)


def _retry_delay(
    outcome: Outcome, health: endpoints.Health | None, settings: ExchangeSettings
) -> float:
    """The delivery's own backoff, but past the endpoint's next probe and the one after:
    probes then go to other deliveries rather than spending one delivery's attempts."""
    own = backoff_seconds(outcome.row.attempts, settings)
    if health is None or health.retry_delay is None:
        return own
    return max(own, 2 * health.retry_delay)


def _last_error(outcomes: list[Outcome], subscription_id: int) -> str | None:
    errors = [o.error for o in outcomes if o.subscription_id == subscription_id and o.failed]
    return errors[-1] if errors else None


class Dispatcher:
    """Keeps up to `webhook_concurrency` posts in flight; each finished post wakes it to
    record outcomes (everything finished meanwhile, in one transaction) and claim more.
    Nothing waits for a round: a slow post holds only its own slot."""

    def __init__(self, ctx: ServiceContext, client: httpx.AsyncClient) -> None:
        self.ctx = ctx
        self.settings: ExchangeSettings = ctx.settings
        self.client = client
        self.wake: asyncio.Event = exchange_state(ctx).webhook_wake
        self.posting: set[asyncio.Task[None]] = set()
        self.finished: list[Outcome] = []

    async def run(self) -> None:
        try:
            while True:
                self.wake.clear()
                try:
                    await self.record_finished()
                    await self.claim_and_post()
                except Exception:
                    log.exception("webhook dispatch failed")
                    await asyncio.sleep(1.0)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self.wake.wait(), timeout=self.settings.webhook_poll_seconds
                    )
        finally:
            # Their leases run out and another round (here or elsewhere) posts them again.
            for task in self.posting:
                task.cancel()

    async def record_finished(self) -> None:
        if not self.finished:
            return
        batch = list(self.finished)
        async with self.ctx.db.session() as session:
            await record_outcomes(session, batch, self.settings)
        # Only once committed: if recording fails, the outcomes are recorded next time.
        del self.finished[: len(batch)]

    async def claim_and_post(self) -> None:
        free = self.settings.webhook_concurrency - len(self.posting) - len(self.finished)
        if free <= 0:
            return
        async with self.ctx.db.session() as session:
            rows = await claim_due(
                session,
                capacity=free,
                per_subscription=self.settings.webhook_subscription_concurrency,
                lease_seconds=self.settings.webhook_lease_seconds,
            )
        for row in rows:
            task = asyncio.create_task(self._post(row))
            self.posting.add(task)
            task.add_done_callback(self.posting.discard)

    async def _post(self, row: Any) -> None:
        outcome = await post(self.client, row, deadline=self.settings.webhook_timeout_seconds)
        if not outcome.failed:
            DELIVERY_LATENCY.labels(row.topic_code, "webhook").observe(
                max(0.0, (utcnow() - row.published_at).total_seconds())
            )
        self.finished.append(outcome)
        self.wake.set()


async def run_webhooks(ctx: ServiceContext) -> None:
    """Background task: deliver until cancelled, woken by publishes, finished posts or a
    poll."""
    settings: ExchangeSettings = ctx.settings
    # The pool never makes a post wait: one connection per slot.
    limits = httpx.Limits(
        max_connections=settings.webhook_concurrency,
        max_keepalive_connections=settings.webhook_concurrency,
    )
    client = webhook_client(
        exchange_state(ctx).webhook_policy, timeout=settings.webhook_timeout_seconds, limits=limits
    )
    async with client:
        await Dispatcher(ctx, client).run()


async def redrive(
    session: AsyncSession,
    *,
    actor: str,
    subscription_id: int | None,
    seq: int | None,
    subscriber: str | None = None,
) -> int:
    """Put dead deliveries (one, a subscription's, or all; a subscriber's only, when
    given) back in the queue; only an approved subscription's (a revoked one's grant ended
    with it)."""
    # Stays SQL (set-based): it writes WebhookDelivery, joined to its Subscription.
    count = (
        await session.execute(
            sa.text(
                "WITH moved AS (UPDATE exchange.webhook_deliveries w SET status = 'pending', "
                "attempts = 0, next_attempt_at = now() FROM exchange.subscriptions s "
                "WHERE s.id = w.subscription_id AND s.status = 'approved' AND w.status = 'dead' "
                "AND (CAST(:sub AS bigint) IS NULL OR w.subscription_id = :sub) "
                "AND (CAST(:seq AS bigint) IS NULL OR w.seq = :seq) "
                "AND (CAST(:subscriber AS text) IS NULL OR s.subscriber = :subscriber) "
                "RETURNING 1) SELECT count(*) FROM moved"
            ),
            {"sub": subscription_id, "seq": seq, "subscriber": subscriber},
        )
    ).scalar_one()
    await audit.append(
        session,
        actor=actor,
        action="webhooks.redriven",
        details={
            "subscription_id": subscription_id,
            "seq": seq,
            "subscriber": subscriber,
            "count": count,
        },
    )
    return int(count)


async def dead_letters(
    session: AsyncSession,
    *,
    subscription_id: int | None,
    after: tuple[int, int],
    limit: int,
    subscriber: str | None = None,
) -> list[dict[str, Any]]:
    # Stays SQL: a read of dead WebhookDelivery rows with their Subscription and record.
    rows = await session.execute(
        sa.text(
            "SELECT w.subscription_id, s.subscriber, s.topic_code AS topic, w.seq, r.record_id, "
            "w.webhook_id, w.attempts, w.last_error, w.last_status, w.created_at "
            "FROM exchange.webhook_deliveries w JOIN exchange.subscriptions s ON s.id = w.subscription_id "
            "CROSS JOIN LATERAL exchange.log_range(s.topic_code, w.seq, w.seq + 1) r "
            "WHERE w.status = 'dead' AND (CAST(:sub AS bigint) IS NULL OR w.subscription_id = :sub) "
            "AND (CAST(:subscriber AS text) IS NULL OR s.subscriber = :subscriber) "
            "AND (w.subscription_id, w.seq) > (:a_sub, :a_seq) "
            "ORDER BY w.subscription_id, w.seq LIMIT :limit"
        ),
        {
            "sub": subscription_id,
            "subscriber": subscriber,
            "a_sub": after[0],
            "a_seq": after[1],
            "limit": limit,
        },
    )
    return [dict(row._mapping) for row in rows]
