"""The pull feed, delivery status and per-subscription figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.clock import utcnow
from govhub_common.db import raw_connection
from govhub_common.pagination import encode_cursor
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_common.security import Principal
from govhub_exchange.archive.service import archived_problem
from govhub_exchange.audit import service as audit
from govhub_exchange.catalog.models import Topic
from govhub_exchange.delivery.grants import granted_data
from govhub_exchange.metrics import DELIVERY_LATENCY


async def feed_grant(
    session: AsyncSession, *, who: Principal, subscription_id: int
) -> dict[str, Any]:
    """The subscription a feed reads, checked for the caller, with its granted items and
    whether the reader is the subscriber itself (only its reads move its position)."""
    # Stays SQL: the feed's hot path reads the Subscription with its topic's DataItem names.
    row = (
        await session.execute(
            sa.text(
                "SELECT s.id, s.topic_code, s.subscriber, s.status, s.items, "
                "ARRAY(SELECT d.name FROM exchange.data_items d "
                "WHERE d.topic_code = s.topic_code) AS declared, "
                "(SELECT t.log_start_seq FROM exchange.topics t WHERE t.code = s.topic_code) "
                "AS log_start_seq "
                "FROM exchange.subscriptions s WHERE s.id = :id"
            ),
            {"id": subscription_id},
        )
    ).first()
    if row is None or (row.subscriber != who.agency and not who.is_operator):
        raise not_found("subscription", subscription_id)
    if row.status != "approved":
        raise Problem(
            ProblemCode.SUBSCRIPTION_NOT_ACTIVE,
            f"subscription {subscription_id} is {row.status}; only approved subscriptions deliver",
        )
    return {
        "id": row.id,
        "topic": row.topic_code,
        "subscriber": row.subscriber,
        "items": list(row.items),
        "declared": list(row.declared),
        "own": row.subscriber == who.agency,
        "log_start_seq": row.log_start_seq,
    }


@dataclass
class Page:
    """One feed page as PostgreSQL wrote it: the records' JSON, joined by commas; `more`
    when the log held records after the page at the time of the read."""

    records_json: bytes
    count: int
    last_seq: int | None
    more: bool = False


# The page's JSON is built by PostgreSQL, one statement that also acknowledges: building
# 5,000 dicts per page in Python took a fifth of the hub's core at full rate. Each record's
# JSON but for its seq and data is rebuilt from its columns (exchange.record_envelope,
# migration 0013; written beside it from 0007, which stored it twice).
# Only the subscriber's own reads ($6) acknowledge and mark delivered, and an acknowledged
# position never passes the topic's head: an operator reading the feed, or a cursor from
# nowhere, leaves the subscriber's lag, alerts and audit trail as they were. (A position
# set past the head before this rule comes back to the head at the subscriber's next read.)
# The cursor is compared as `$2 >= start - 1`: `$2 + 1` overflows at the greatest cursor.
READ_AND_ACKNOWLEDGE = f"""
WITH start AS (
    SELECT log_start_seq, head_seq FROM exchange.topics WHERE code = $1
), page AS MATERIALIZED (
    SELECT seq, published_at,
        exchange.record_envelope(record_id, version, topic_version, business_time, published_at)
            AS envelope,
        {granted_data("data", granted="$3::text[]", declared="$7::text[]")} AS data
    FROM exchange.log_page($1, $2, $4)
    WHERE $2 >= (SELECT log_start_seq FROM start) - 1
    ORDER BY seq
), previous AS (
    SELECT delivered_seq FROM exchange.subscriptions WHERE id = $5
), acknowledged AS (
    UPDATE exchange.subscriptions
    SET acked_seq = least(greatest(acked_seq, $2),
            (SELECT head_seq FROM exchange.topics WHERE code = $1)),
        acked_at = now(),
        delivered_seq = greatest(delivered_seq, coalesce((SELECT max(seq) FROM page), 0))
    WHERE id = $5 AND $6 AND $2 >= (SELECT log_start_seq FROM start) - 1
)
SELECT
    (SELECT convert_to(string_agg('{{"seq":' || seq || ',' || envelope || data::text || '}}', ','
                                  ORDER BY seq), 'UTF8') FROM page) AS records_json,
    (SELECT count(*) FROM page) AS count,
    (SELECT min(seq) FROM page) AS first_seq,
    (SELECT max(seq) FROM page) AS last_seq,
    -- Whether the reader has caught up: the topic's head in the page's snapshot (an
    -- append moves it in the transaction that writes the records). Probing the log for a
    -- later seq instead read every row up to the head when the plan was a bitmap scan.
    coalesce(coalesce((SELECT max(seq) FROM page), $2) < (SELECT head_seq FROM start), false)
        AS more,
    -- The publish batches first delivered by this page (records of a batch share
    -- published_at): one latency observation each.
    ARRAY(SELECT published_at FROM page GROUP BY published_at
          HAVING $6 AND max(seq) > (SELECT delivered_seq FROM previous)) AS fresh_batches,
    -- Where the live log starts: a cursor before it reads and acknowledges nothing (its
    -- records were archived meanwhile).
    (SELECT log_start_seq FROM start) AS log_start_seq
"""


async def read_and_acknowledge(
    session: AsyncSession, *, grant: dict[str, Any], after: int, limit: int, reader: str
) -> Page:
    """Records after the cursor with only the granted items (delivery/grants.py). The
    subscriber's own read of after=N acknowledges up to N (at most the head) and marks the
    returned records delivered; anyone else's read (an operator's) moves nothing and is
    audited under the reader's name."""
    raw = await raw_connection(session)
    row = await raw.fetchrow(
        READ_AND_ACKNOWLEDGE,
        grant["topic"],
        after,
        grant["items"],
        limit,
        grant["id"],
        grant["own"],
        grant["declared"],
    )
    assert row is not None
    if after + 1 < row["log_start_seq"]:
        raise await archived_problem(
            raw, topic=grant["topic"], after=after, log_start=row["log_start_seq"]
        )
    if row["fresh_batches"]:
        now = utcnow()
        histogram = DELIVERY_LATENCY.labels(grant["topic"], "feed")
        for published_at in row["fresh_batches"]:
            histogram.observe(max(0.0, (now - published_at).total_seconds()))
    # The audit entry for the subscriber's deliveries is appended by audit_feed_deliveries,
    # off the read path: feed reads would otherwise queue behind publishes on the chain's
    # lock. Another reader's (rare) is appended here, in its own name.
    if not grant["own"] and row["count"]:
        await audit.append(
            session,
            actor=reader,
            action="records.read",
            agency=grant["subscriber"],
            topic=grant["topic"],
            details={
                "mode": "feed",
                "subscription_id": grant["id"],
                "first_seq": row["first_seq"],
                "last_seq": row["last_seq"],
            },
        )
    return Page(row["records_json"] or b"", row["count"], row["last_seq"], row["more"])


async def audit_feed_deliveries(session: AsyncSession) -> int:
    """One audit entry per subscription for the records its feed delivered since the last
    round (from its audited_seq cursor); returns how many entries were appended."""
    # The chain first: every feed read updates its subscription row, so those rows are
    # never held locked while waiting for the chain (another replica's audit round may
    # hold it for a while; and taking the two the other way round deadlocked with it).
    await audit.lock_chain(session)
    # Stays SQL: one set-based UPDATE of every Subscription's audited_seq (a self-join for the
    # old value).
    rows = (
        await session.execute(
            sa.text(
                "UPDATE exchange.subscriptions s SET audited_seq = s.delivered_seq "
                "FROM exchange.subscriptions old WHERE old.id = s.id "
                "AND s.delivered_seq > s.audited_seq "
                "RETURNING s.id, s.topic_code, s.subscriber, old.audited_seq + 1 AS first_seq, "
                "s.delivered_seq AS last_seq"
            )
        )
    ).all()
    for row in sorted(rows, key=lambda r: r.id):
        await audit.append(
            session,
            actor=row.subscriber,
            action="records.delivered",
            agency=row.subscriber,
            topic=row.topic_code,
            details={
                "mode": "feed",
                "subscription_id": row.id,
                "first_seq": row.first_seq,
                "last_seq": row.last_seq,
            },
        )
    return len(rows)


def page_body(page: Page, after: int) -> bytes:
    """A FeedPage around the records PostgreSQL wrote (they are not parsed again): `next`
    while the log holds more, null once caught up; `position` always, to resume later."""
    position = b'"' + encode_cursor(page.last_seq if page.last_seq is not None else after).encode()
    position += b'"'
    return (
        b'{"data":['
        + page.records_json
        + b'],"next":'
        + (position if page.more else b"null")
        + b',"caught_up":'
        + (b"false" if page.more else b"true")
        + b',"position":'
        + position
        + b"}"
    )


async def delivery_status(
    session: AsyncSession,
    *,
    who: Principal,
    topic: str,
    record_id: str | None,
    subscriber: str | None,
    status: str | None,
    after: tuple[int, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest record first, then by subscription; `after` is the (seq, subscription id)
    of the previous page's last row."""
    owner = (
        await session.execute(sa.select(col(Topic.owner)).where(col(Topic.code) == topic))
    ).scalar_one_or_none()
    if owner is None:
        raise not_found("topic", topic)
    if not who.is_operator and who.agency != owner:
        subscriber = who.agency  # a subscriber sees only its own deliveries
    # Newest first, a window of seqs at a time down to the live log's start (to the
    # record's own versions when one is asked for): a window unpacks at most a dozen
    # blocks (migration 0015), and the page stops at its limit.
    bounds = (
        await session.execute(
            sa.text(
                "SELECT t.log_start_seq AS low, t.head_seq AS high, "
                "coalesce(h.first_seq, h.seq) AS first_seq, h.seq "
                "FROM exchange.topics t LEFT JOIN exchange.record_heads h "
                "ON h.topic_number = t.number AND h.record_id = :rid WHERE t.code = :topic"
            ),
            {"topic": topic, "rid": record_id},
        )
    ).one()
    low, high = bounds.low, bounds.high if after is None else min(bounds.high, after[0])
    if record_id is not None:
        if bounds.seq is None:
            return []
        low, high = max(low, bounds.first_seq), min(high, bounds.seq)
    found: list[dict[str, Any]] = []
    while high >= low and len(found) < limit:
        start = max(low, high - DELIVERY_WINDOW + 1)
        found += await _delivery_window(
            session,
            topic=topic,
            seqs=(start, high),
            record_id=record_id,
            subscriber=subscriber,
            status=status,
            after=after,
            limit=limit - len(found),
        )
        high = start - 1
    return found


DELIVERY_WINDOW = 10_000  # seqs of the log a query of the delivery list reads


async def _delivery_window(
    session: AsyncSession,
    *,
    topic: str,
    seqs: tuple[int, int],
    record_id: str | None,
    subscriber: str | None,
    status: str | None,
    after: tuple[int, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    # Stays SQL: a set-based read of the log, each record against each approved
    # Subscription's positions and its WebhookDelivery, filtered on the derived status.
    rows = await session.execute(
        sa.text(
            "SELECT * FROM (SELECT s.id AS subscription_id, s.subscriber, r.seq, r.record_id, "
            "r.version, r.published_at, "
            "CASE WHEN r.seq <= s.acked_seq THEN 'acknowledged' "
            "WHEN r.seq <= s.delivered_seq THEN 'delivered' ELSE 'pending' END AS feed_status, "
            "w.webhook_id, w.status AS webhook_status, w.attempts AS webhook_attempts, "
            "w.last_error AS webhook_last_error, w.delivered_at AS webhook_delivered_at "
            "FROM exchange.log_range(:topic, :low, :high + 1) r JOIN exchange.subscriptions s "
            "ON s.topic_code = r.topic_code AND s.status = 'approved' "
            "LEFT JOIN exchange.webhook_deliveries w ON w.subscription_id = s.id AND w.seq = r.seq "
            "WHERE (CAST(:rid AS text) IS NULL OR r.record_id = :rid) "
            "AND (CAST(:sub AS text) IS NULL OR s.subscriber = :sub)) x "
            "WHERE (CAST(:status AS text) IS NULL OR :status IN (feed_status, webhook_status)) "
            "AND (CAST(:a_seq AS bigint) IS NULL OR seq < :a_seq "
            "OR (seq = :a_seq AND subscription_id > :a_sub)) "
            "ORDER BY seq DESC, subscription_id LIMIT :limit"
        ),
        {
            "topic": topic,
            "low": seqs[0],
            "high": seqs[1],
            "rid": record_id,
            "sub": subscriber,
            "status": status,
            "a_seq": after[0] if after else None,
            "a_sub": after[1] if after else None,
            "limit": limit,
        },
    )
    return [dict(row._mapping) for row in rows]


# Where a subscription stands: what its feed acknowledged or, for a webhook subscriber,
# what its webhooks delivered without a gap, whichever is further.
RECEIVED_SEQ = "greatest(s.acked_seq, s.webhook_delivered_seq)"
LAG_SECONDS = (
    "coalesce((SELECT extract(epoch FROM now() - r.published_at) "
    f"FROM exchange.log_range(s.topic_code, {RECEIVED_SEQ} + 1, {RECEIVED_SEQ} + 2) r), 0)"
)


async def subscription_stats(session: AsyncSession, *, subscription_id: int) -> dict[str, Any]:
    # One statement, so one snapshot: the position and the delivery counts are of the same
    # moment. Read in two (READ COMMITTED gives each its own snapshot), a recorder
    # committing between them (its deliveries and the position it advanced, together)
    # showed every webhook delivered and yet the position, and the lag, of before.
    # Stays SQL: that one statement reads the Subscription, its Topic's head and its
    # WebhookDelivery counts, with the lag expressions the gauges share (background.py).
    row = (
        await session.execute(
            sa.text(
                "SELECT s.id, s.topic_code, s.subscriber, s.acked_seq, s.delivered_seq, "
                "s.webhook_delivered_seq, t.head_seq, s.webhook_url IS NOT NULL AS has_webhook, "
                "s.webhook_status, s.webhook_paused_reason, s.webhook_paused_since, "
                "s.webhook_failures, s.webhook_retry_at, "
                f"t.head_seq - {RECEIVED_SEQ} AS lag_records, {LAG_SECONDS} AS lag_seconds, "
                "w.statuses, w.counts, w.attempts "
                "FROM exchange.subscriptions s JOIN exchange.topics t ON t.code = s.topic_code "
                "CROSS JOIN LATERAL (SELECT array_agg(g.status) AS statuses, "
                "array_agg(g.n) AS counts, array_agg(g.attempts) AS attempts "
                "FROM (SELECT status, count(*) AS n, coalesce(sum(attempts), 0) AS attempts "
                "FROM exchange.webhook_deliveries WHERE subscription_id = s.id GROUP BY status) g"
                ") w WHERE s.id = :id"
            ),
            {"id": subscription_id},
        )
    ).one()
    webhook: dict[str, Any] = {
        status: {"count": n, "attempts": attempts}
        for status, n, attempts in zip(
            row.statuses or [], row.counts or [], row.attempts or [], strict=True
        )
    }
    return {
        "subscription_id": row.id,
        "topic": row.topic_code,
        "subscriber": row.subscriber,
        "head_seq": row.head_seq,
        "acked_seq": row.acked_seq,
        "delivered_seq": row.delivered_seq,
        "webhook_delivered_seq": row.webhook_delivered_seq,
        "lag_records": row.lag_records,
        "lag_seconds": float(row.lag_seconds),
        "webhook": webhook,
        "webhook_endpoint": {
            "status": row.webhook_status,
            "paused_reason": row.webhook_paused_reason,
            "paused_since": row.webhook_paused_since,
            "consecutive_failures": row.webhook_failures,
            "retry_at": row.webhook_retry_at,
        }
        if row.has_webhook
        else None,
    }
