"""Publishing a batch: validate each record, append the valid ones to the topic's ordered
log with one outbox event, quarantine the rest, report duplicates."""

from __future__ import annotations

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
from govhub_exchange.metrics import RECORDS_PUBLISHED, RECORDS_REJECTED
from govhub_exchange.publishing.parsing import (
    Incoming,
    content_hash,
    read_envelope,
    schema_faults,
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

    # Validate before taking the topic lock: the lock is held until commit.
    valid: list[Incoming] = []
    rejected: list[Incoming] = []
    for item in items:
        read_envelope(item)
        if not item.errors:
            assert item.data is not None
            version = item.schema_version or topic.current_version
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
            item.content_hash = content_hash(item.data, item.business_time)
            valid.append(item)

    # The row lock serialises publishers of one topic: sequence numbers become visible in
    # commit order (a feed cursor never skips a record) and duplicate checks cannot race.
    await session.execute(
        sa.text("SELECT 1 FROM exchange.topics WHERE code = :c FOR UPDATE"), {"c": topic_code}
    )
    raw = await raw_connection(session)
    latest: dict[str, tuple[int, bytes, int]] = {}
    if valid:
        ids = list({item.record_id for item in valid if item.record_id})
        for row in await raw.fetch(
            "SELECT DISTINCT ON (record_id) record_id, version, content_hash, seq "
            "FROM exchange.records WHERE topic_code = $1 AND record_id = ANY($2::text[]) "
            "ORDER BY record_id, version DESC",
            topic_code,
            ids,
        ):
            latest[row["record_id"]] = (row["version"], bytes(row["content_hash"]), row["seq"])

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
        # Until sequence numbers are allocated, a negative seq names the accepted position.
        pending[item.record_id] = (version, item.content_hash, -(len(accepted) + 1))
        accepted.append((item, version))

    batch_id = uuid.uuid4()
    now = utcnow()
    first_seq = last_seq = None
    published: list[dict[str, Any]] = []
    if accepted:
        last_seq = (
            await session.execute(
                sa.text(
                    "UPDATE exchange.topics SET head_seq = head_seq + :n WHERE code = :c "
                    "RETURNING head_seq"
                ),
                {"n": len(accepted), "c": topic_code},
            )
        ).scalar_one()
        first_seq = last_seq - len(accepted) + 1
        rows = []
        for offset, (item, version) in enumerate(accepted):
            seq = first_seq + offset
            pending[item.record_id or ""] = (version, item.content_hash, seq)
            data_text = orjson.dumps(item.data).decode()
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
                    data_text,
                )
            )
            published.append(
                {
                    "index": item.index,
                    "seq": seq,
                    "record_id": item.record_id,
                    "version": version,
                    "business_time": item.business_time.isoformat() if item.business_time else None,
                    "published_at": now.isoformat(),
                    "data": item.data,
                    "topic_version": item.schema_version,
                }
            )
        await raw.copy_records_to_table(
            "records", schema_name="exchange", columns=RECORD_COLUMNS, records=rows
        )
        # Webhook subscribers get one delivery row per record, in one statement.
        await raw.execute(
            "INSERT INTO exchange.webhook_deliveries (subscription_id, seq, webhook_id) "
            "SELECT s.id, q.seq, 'msg_' || s.id || '_' || q.seq "
            "FROM exchange.subscriptions s CROSS JOIN generate_series($2::bigint, $3::bigint) q(seq) "
            "WHERE s.topic_code = $1 AND s.status = 'approved' AND s.webhook_url IS NOT NULL",
            topic_code,
            first_seq,
            last_seq,
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
                "records": [
                    {k: v for k, v in record.items() if k not in ("index", "topic_version")}
                    for record in published
                ],
            },
        )
        await add_events(session, "exchange", [event])

    if rejected:
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

    await audit.append(
        session,
        actor=publisher,
        action="records.published",
        agency=publisher,
        topic=topic_code,
        details={
            "batch_id": str(batch_id),
            "accepted": len(accepted),
            "duplicates": len(duplicates),
            "rejected": len(rejected),
            "first_seq": first_seq,
            "last_seq": last_seq,
        },
    )
    RECORDS_PUBLISHED.labels(topic_code).inc(len(accepted))
    RECORDS_REJECTED.labels(topic_code).inc(len(rejected))
    return {
        "batch_id": str(batch_id),
        "topic": topic_code,
        "counts": {
            "accepted": len(accepted),
            "duplicates": len(duplicates),
            "rejected": len(rejected),
        },
        "accepted": [
            {
                "index": r["index"],
                "record_id": r["record_id"],
                "seq": r["seq"],
                "version": r["version"],
            }
            for r in published
        ],
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
