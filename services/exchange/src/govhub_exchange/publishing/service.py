"""Publishing a batch: validate each record, append the valid ones to the topic's ordered
log with one outbox event, quarantine the rest, report duplicates."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import utcnow
from govhub_common.db import raw_connection
from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events
from govhub_common.problems import forbidden, not_found
from govhub_common.security import Principal
from govhub_exchange.audit import service as audit
from govhub_exchange.catalog import service as catalog
from govhub_exchange.delivery.notify import RECORDS_CHANNEL
from govhub_exchange.metrics import RECORDS_PUBLISHED, RECORDS_REJECTED
from govhub_exchange.publishing.parsing import (
    Incoming,
    canonical_content,
    read_envelope,
    schema_faults,
)

_INSERT_BATCH = (
    "INSERT INTO exchange.publish_batches (topic_code, first_seq, last_seq, batch_id, "
    "publisher, accepted, duplicates, rejected) "
    "VALUES ($1, $2::bigint, $3::bigint, $4, $5, $6, $7, $8)"
)
RECORD_COLUMNS = (
    "topic_code",
    "seq",
    "record_id",
    "version",
    "topic_version",
    "content_hash",
    "business_time",
    "published_at",
    "publisher",
    "data",
)
QUARANTINE_COLUMNS = (
    "topic_code",
    "publisher",
    "batch_id",
    "index",
    "line",
    "record_id",
    "payload",
    "errors",
)


async def publish(
    session: AsyncSession, *, publisher: str, topic_code: str, items: list[Incoming]
) -> dict[str, Any]:
    """Everything in the caller's transaction: the log, the quarantine, the event, the audit."""
    topic = (
        await session.execute(
            sa.text("SELECT owner, current_version FROM exchange.topics WHERE code = :c"),
            {"c": topic_code},
        )
    ).first()
    if topic is None:
        raise not_found("topic", topic_code)
    if topic.owner != publisher:
        raise forbidden(f"only the topic's owner ({topic.owner}) may publish to {topic_code}")

    valid, rejected = await _validate(session, topic_code, topic.current_version, items)
    batch_id = uuid.uuid4()
    raw = await raw_connection(session)
    if rejected:
        await _quarantine(raw, topic_code, publisher, batch_id, rejected)

    # Versions and duplicates are judged before taking the topic lock, against the log as
    # of a head the same statement read; under the lock only what was appended since that
    # head is looked up again. The lock is held until commit, so the less done under it,
    # the more publishers of one topic get through.
    ids = list({item.record_id for item in valid if item.record_id})
    head, latest = await _latest_versions(raw, topic_code, ids, after_seq=None) if ids else (0, {})
    accepted, duplicates = _judge(valid, latest)

    counts = {"accepted": len(accepted), "duplicates": len(duplicates), "rejected": len(rejected)}
    now = utcnow()
    first_seq: int | None = None
    last_seq: int | None = None
    accepted_out: list[dict[str, Any]] = []
    if accepted:
        # The row lock serialises publishers of one topic: sequence numbers become visible
        # in commit order (a feed cursor never skips a record) and duplicate checks cannot race.
        last_seq = await _advance_head(raw, topic_code, len(accepted))
        if last_seq - len(accepted) != head:
            _, newer = await _latest_versions(raw, topic_code, ids, after_seq=head)
            if newer:
                latest.update(newer)
                count = len(accepted)
                accepted, duplicates = _judge(valid, latest)
                if len(accepted) != count:
                    last_seq = await _advance_head(raw, topic_code, len(accepted) - count)
                counts["accepted"], counts["duplicates"] = len(accepted), len(duplicates)
        first_seq, last_seq = (last_seq - len(accepted) + 1, last_seq) if accepted else (None, None)
    if accepted:
        assert first_seq is not None and last_seq is not None
        rows = []
        event_records = []
        for offset, (item, version) in enumerate(accepted):
            seq = first_seq + offset
            rows.append(
                (
                    topic_code,
                    seq,
                    item.record_id,
                    version,
                    item.schema_version,
                    item.content_hash,
                    item.business_time,
                    now,
                    publisher,
                    item.data_json.decode(),
                )
            )
            event_records.append(
                {
                    "seq": seq,
                    "record_id": item.record_id,
                    "version": version,
                    "business_time": item.business_time,
                    "published_at": now,
                    "data": orjson.Fragment(item.data_json),
                }
            )
            accepted_out.append(
                {"index": item.index, "record_id": item.record_id, "seq": seq, "version": version}
            )
        await raw.copy_records_to_table(
            "records", schema_name="exchange", columns=RECORD_COLUMNS, records=rows
        )
        # In one statement: a delivery row per record for each webhook subscriber, the
        # batch (audited from there in the background), and at commit a notice to every
        # replica (its long-polls and webhook worker wake).
        await raw.execute(
            "WITH hooks AS (INSERT INTO exchange.webhook_deliveries (subscription_id, seq, "
            "webhook_id) SELECT s.id, q.seq, 'msg_' || s.id || '_' || q.seq "
            "FROM exchange.subscriptions s CROSS JOIN generate_series($2::bigint, $3::bigint) q(seq) "
            "WHERE s.topic_code = $1 AND s.status = 'approved' AND s.webhook_url IS NOT NULL), "
            f"batch AS ({_INSERT_BATCH}) "
            f"SELECT pg_notify('{RECORDS_CHANNEL}', $1)",
            topic_code,
            first_seq,
            last_seq,
            batch_id,
            publisher,
            counts["accepted"],
            counts["duplicates"],
            counts["rejected"],
        )
        event = CloudEvent(
            source="govhub/exchange",
            type="exchange.record.published",
            subject=topic_code,
            routing_suffix=topic_code,
            data={
                "topic": topic_code,
                "topic_version": topic.current_version,
                "publisher": publisher,
                "batch_id": str(batch_id),
                "counts": counts,
                "records": event_records,
            },
        )
        await add_events(session, "exchange", [event])
    else:
        await raw.execute(
            _INSERT_BATCH,
            topic_code,
            None,
            None,
            batch_id,
            publisher,
            counts["accepted"],
            counts["duplicates"],
            counts["rejected"],
        )
    RECORDS_PUBLISHED.labels(topic_code).inc(len(accepted))
    RECORDS_REJECTED.labels(topic_code).inc(len(rejected))
    return {
        "batch_id": str(batch_id),
        "topic": topic_code,
        "counts": counts,
        "accepted": accepted_out,
        "duplicates": [
            {"index": item.index, "record_id": item.record_id, "version": version, "seq": seq}
            for item, version, seq in (
                (i, v, (first_seq or 0) - s - 1 if s < 0 else s) for i, v, s in duplicates
            )
        ],
        "rejected": [
            {
                "index": item.index,
                "line": item.line,
                "record_id": item.record_id,
                "errors": item.errors,
            }
            for item in rejected
        ],
    }


AUDIT_ROUND = 500  # publish batches audited per statement


async def audit_publishes(session: AsyncSession, *, limit: int = AUDIT_ROUND) -> int:
    """The audit entry of each publish request not yet audited, in the order they were
    received; returns how many were appended (at most `limit`). Replicas share the work."""
    rows = (
        await session.execute(
            sa.text(
                "UPDATE exchange.publish_batches b SET audited = true WHERE b.id IN ("
                "SELECT id FROM exchange.publish_batches WHERE NOT audited ORDER BY id "
                "LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING b.id, b.batch_id, b.topic_code, "
                "b.publisher, b.accepted, b.duplicates, b.rejected, b.first_seq, b.last_seq"
            ),
            {"n": limit},
        )
    ).all()
    for row in sorted(rows, key=lambda r: r.id):
        await audit.append(
            session,
            actor=row.publisher,
            action="records.published",
            agency=row.publisher,
            topic=row.topic_code,
            details={
                "batch_id": str(row.batch_id),
                "accepted": row.accepted,
                "duplicates": row.duplicates,
                "rejected": row.rejected,
                "first_seq": row.first_seq,
                "last_seq": row.last_seq,
            },
        )
    return len(rows)


async def _validate(
    session: AsyncSession, topic_code: str, current_version: int, items: list[Incoming]
) -> tuple[list[Incoming], list[Incoming]]:
    """Judge each record on its own: (valid, rejected); valid ones get their canonical
    JSON and content hash."""
    valid: list[Incoming] = []
    rejected: list[Incoming] = []
    for item in items:
        if item.index % 100 == 99:
            # Let the event loop run between slices of a large batch: another request's
            # transaction holding its topic lock waits for its turn on this loop.
            await asyncio.sleep(0)
        read_envelope(item)
        if not item.errors:
            assert item.data is not None
            version = item.schema_version or current_version
            validator = await catalog.validator(session, code=topic_code, version=version)
            if validator is None:
                item.errors.append(
                    {
                        "path": f"$[{item.index}].schema_version",
                        "message": f"topic {topic_code} has no version {version}",
                    }
                )
            elif not validator.is_valid(item.data):
                item.errors.extend(schema_faults(validator, item.data, f"$[{item.index}].data"))
            item.schema_version = version
        if item.errors:
            rejected.append(item)
        else:
            assert item.data is not None
            canonical_content(item)
            valid.append(item)
    return valid, rejected


async def _quarantine(
    raw: Any, topic_code: str, publisher: str, batch_id: uuid.UUID, rejected: list[Incoming]
) -> None:
    await raw.copy_records_to_table(
        "quarantine",
        schema_name="exchange",
        columns=QUARANTINE_COLUMNS,
        records=[
            (
                topic_code,
                publisher,
                batch_id,
                item.index,
                item.line,
                item.record_id,
                item.payload_text
                if item.payload_text is not None
                else orjson.dumps(item.raw).decode(),
                orjson.dumps(item.errors).decode(),
            )
            for item in rejected
        ],
    )


async def _latest_versions(
    raw: Any, topic_code: str, ids: list[str], *, after_seq: int | None
) -> tuple[int, dict[str, tuple[int, bytes, int]]]:
    """The topic's head and, as of that head, the latest (version, content hash, seq) of
    each record id; with after_seq, only versions appended after that sequence number."""
    row = await raw.fetchrow(
        "WITH latest AS (SELECT DISTINCT ON (r.record_id) r.record_id, r.version, "
        "r.content_hash, r.seq FROM exchange.records r "
        "JOIN unnest($2::text[]) AS wanted(record_id) ON wanted.record_id = r.record_id "
        "WHERE r.topic_code = $1 AND r.seq > coalesce($3::bigint, 0) "
        "ORDER BY r.record_id, r.version DESC) "
        "SELECT (SELECT head_seq FROM exchange.topics WHERE code = $1) AS head, "
        "(SELECT array_agg(record_id) FROM latest) AS ids, "
        "(SELECT array_agg(version) FROM latest) AS versions, "
        "(SELECT array_agg(content_hash) FROM latest) AS hashes, "
        "(SELECT array_agg(seq) FROM latest) AS seqs",
        topic_code,
        ids,
        after_seq,
    )
    assert row is not None
    if not row["ids"]:
        return row["head"], {}
    return row["head"], {
        record_id: (version, bytes(digest), seq)
        for record_id, version, digest, seq in zip(
            row["ids"], row["versions"], row["hashes"], row["seqs"], strict=True
        )
    }


def _judge(
    valid: list[Incoming], latest: dict[str, tuple[int, bytes, int]]
) -> tuple[list[tuple[Incoming, int]], list[tuple[Incoming, int, int]]]:
    """(accepted with their versions, duplicates with the version and seq they repeat).
    Until sequence numbers are allocated, a negative seq names the accepted position."""
    accepted: list[tuple[Incoming, int]] = []
    duplicates: list[tuple[Incoming, int, int]] = []
    pending: dict[str, tuple[int, bytes, int]] = {}
    for item in valid:
        assert item.record_id is not None
        previous = pending.get(item.record_id) or latest.get(item.record_id)
        if previous is not None and previous[1] == item.content_hash:
            duplicates.append((item, previous[0], previous[2]))
            continue
        version = previous[0] + 1 if previous else 1
        pending[item.record_id] = (version, item.content_hash, -(len(accepted) + 1))
        accepted.append((item, version))
    return accepted, duplicates


async def _advance_head(raw: Any, topic_code: str, by: int) -> int:
    """Move the topic's head by `by` records (taking its row lock); returns the new head."""
    head: int = await raw.fetchval(
        "UPDATE exchange.topics SET head_seq = head_seq + $2 WHERE code = $1 RETURNING head_seq",
        topic_code,
        by,
    )
    return head


async def list_quarantine(
    session: AsyncSession, *, who: Principal, topic_code: str, after: int, limit: int
) -> list[dict[str, Any]]:
    topic = await catalog.get_topic_row(session, code=topic_code)
    if topic.owner != who.agency and not who.is_operator:
        raise forbidden("only the topic's owner may read its quarantine")
    rows = await session.execute(
        sa.text(
            "SELECT id, batch_id, index, line, record_id, payload, errors::text AS errors, "
            "received_at FROM exchange.quarantine WHERE topic_code = :t AND id > :after "
            "ORDER BY id LIMIT :limit"
        ),
        {"t": topic_code, "after": after, "limit": limit},
    )
    return [
        {
            "id": row.id,
            "batch_id": str(row.batch_id),
            "index": row.index,
            "line": row.line,
            "record_id": row.record_id,
            "payload": row.payload,
            "errors": orjson.loads(row.errors),
            "received_at": row.received_at,
        }
        for row in rows
    ]
