"""Publishing a batch: validate each record, append the valid ones to the topic's ordered
log with one outbox event, quarantine the rest, report duplicates."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import utcnow
from govhub_common.db import Database, raw_connection
from govhub_common.events import CloudEvent
from govhub_common.outbox import outbox_channel
from govhub_common.problems import forbidden, not_found
from govhub_common.security import Principal
from govhub_exchange.audit import service as audit
from govhub_exchange.catalog import service as catalog
from govhub_exchange.delivery.notify import RECORDS_CHANNEL
from govhub_exchange.metrics import RECORDS_PUBLISHED, RECORDS_REJECTED
from govhub_exchange.publishing.append_batch import append_batch
from govhub_exchange.publishing.parsing import (
    Incoming,
    canonical_content,
    read_envelope,
    schema_faults,
)
from govhub_exchange.quality.tally import tally

# The batch event's type (its routing key adds the topic); webhooks carry it too.
EVENT_TYPE = "exchange.record.published"


async def publish(
    db: Database,
    *,
    publisher: str,
    topic_code: str,
    items: list[Incoming],
    arrived_at: datetime | None = None,
) -> dict[str, Any]:
    """A publish request: judged, then written by one statement that commits on its own
    (the log, the quarantine, the event, the batch to audit, the day's quality figures).
    `arrived_at` is the business clock's time (the wall clock but in simulation)."""
    async with db.session() as session:
        topic, valid, rejected = await _check(session, publisher, topic_code, items)
        declared = await catalog.declared_items(
            session, code=topic_code, version=topic.current_version
        )
    async with db.autocommit() as raw:
        return await _append(
            raw, publisher, topic_code, topic.current_version, valid, rejected, declared, arrived_at
        )


async def publish_in(
    session: AsyncSession,
    *,
    publisher: str,
    topic_code: str,
    items: list[Incoming],
    arrived_at: datetime | None = None,
) -> dict[str, Any]:
    """The same in the caller's transaction (a consumer's, with its inbox row): the topic's
    lock is then held until that transaction commits."""
    topic, valid, rejected = await _check(session, publisher, topic_code, items)
    declared = await catalog.declared_items(session, code=topic_code, version=topic.current_version)
    raw = await raw_connection(session)
    return await _append(
        raw, publisher, topic_code, topic.current_version, valid, rejected, declared, arrived_at
    )


async def _check(
    session: AsyncSession, publisher: str, topic_code: str, items: list[Incoming]
) -> tuple[Any, list[Incoming], list[Incoming]]:
    """The topic (404, or 403 for anyone but its owner) and the records judged one by one."""
    # Stays SQL: the publish path reads the Topic here on every request (no ORM statement
    # handling, which costs about 0.1 ms an execution).
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
    return topic, valid, rejected


async def _append(
    raw: Any,
    publisher: str,
    topic_code: str,
    topic_version: int,
    valid: list[Incoming],
    rejected: list[Incoming],
    declared: frozenset[str],
    arrived_at: datetime | None,
) -> dict[str, Any]:
    """Versions and duplicates are judged against the log as of a head read with them;
    exchange.append_batch (publishing/append_batch.sql) appends under the topic's lock unless a record
    id of the batch was appended since that head, in which case the batch is judged again
    against what was appended and retried."""
    batch_id = uuid.uuid4()
    now = utcnow()
    ids = list({item.record_id for item in valid if item.record_id})
    head, latest = await _latest_versions(raw, topic_code, ids, after_seq=None) if ids else (0, {})
    quarantine = _quarantine_columns(rejected)
    while True:
        accepted, duplicates = _judge(valid, latest)
        counts = {
            "accepted": len(accepted),
            "duplicates": len(duplicates),
            "rejected": len(rejected),
        }
        event = CloudEvent(
            source="govhub/exchange",
            type=EVENT_TYPE,
            subject=topic_code,
            routing_suffix=topic_code,
            data={
                "topic": topic_code,
                "topic_version": topic_version,
                "publisher": publisher,
                "batch_id": str(batch_id),
                "counts": counts,
                "records": orjson.Fragment(_RECORDS_MARK),
            },
        )
        event_head, event_tail = _event_frame(event)
        tallies = tally(
            arrived_at=arrived_at or now,
            accepted=[item for item, _ in accepted],
            rejected=rejected,
            declared=declared,
        )
        first_seq = await append_batch(
            raw,
            topic=topic_code,
            publisher=publisher,
            batch_id=batch_id,
            seen_head=head,
            published_at=now,
            record_ids=[item.record_id for item, _ in accepted],
            versions=[version for _, version in accepted],
            topic_versions=[item.schema_version for item, _ in accepted],
            hashes=[item.content_hash for item, _ in accepted],
            business_times=[item.business_time for item, _ in accepted],
            data=[item.data_json.decode() for item, _ in accepted],
            envelopes=[_envelope(item, version, now) for item, version in accepted],
            event_id=event.id,
            event_type=event.type,
            routing_key=event.routing_key,
            event_head=event_head,
            event_tail=event_tail,
            outbox_channel=outbox_channel("exchange"),
            records_channel=RECORDS_CHANNEL,
            dup_ids=[item.record_id for item, _, _ in duplicates],
            dup_versions=[version for _, version, _ in duplicates],
            **quarantine,
            arrived_at=arrived_at or now,
            **tallies.arguments(),
        )
        if first_seq is not None:
            break
        head, newer = await _latest_versions(raw, topic_code, ids, after_seq=head)
        latest.update(newer)

    RECORDS_PUBLISHED.labels(topic_code).inc(len(accepted))
    RECORDS_REJECTED.labels(topic_code).inc(len(rejected))
    return {
        "batch_id": str(batch_id),
        "topic": topic_code,
        "counts": counts,
        "accepted": [
            {"index": item.index, "record_id": item.record_id, "seq": first_seq + k, "version": v}
            for k, (item, v) in enumerate(accepted)
        ],
        "duplicates": [
            {"index": item.index, "record_id": item.record_id, "version": version, "seq": seq}
            for item, version, seq in (
                (i, v, first_seq - s - 1 if s < 0 else s) for i, v, s in duplicates
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


# Where the records go in the batch event's JSON; PostgreSQL writes them there, each with
# the sequence number it took.
_RECORDS_MARK = rb'"\u0000records"'


def _event_frame(event: CloudEvent) -> tuple[str, str]:
    """The event's JSON before and after its records array (brackets included)."""
    head, tail = event.to_json().split(_RECORDS_MARK)
    return head.decode() + "[", "]" + tail.decode()


def _envelope(item: Incoming, version: int, published_at: datetime) -> str:
    """A record's JSON as feeds and events show it, up to its data (which follows), without
    its seq (which goes in front once taken)."""
    head = orjson.dumps(
        {
            "record_id": item.record_id,
            "version": version,
            "topic_version": item.schema_version,
            "business_time": item.business_time,
            "published_at": published_at,
        }
    )
    return head[1:-1].decode() + ',"data":'


def _payload(item: Incoming) -> str:
    """A rejected record as received, as text PostgreSQL holds (NUL and lone surrogates
    escaped, integers of any size kept)."""
    if item.payload_text is not None:
        return item.payload_text
    try:
        return orjson.dumps(item.raw).decode()
    except orjson.JSONEncodeError:
        return json.dumps(item.raw, ensure_ascii=True)


def _quarantine_columns(rejected: list[Incoming]) -> dict[str, list[Any]]:
    return {
        "q_index": [item.index for item in rejected],
        "q_line": [item.line for item in rejected],
        "q_record_id": [item.record_id for item in rejected],
        "q_payload": [_payload(item) for item in rejected],
        "q_errors": [orjson.dumps(item.errors).decode() for item in rejected],
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
    validators: dict[int, Any] = {}  # by version: a batch names one or two
    for item in items:
        if item.index % 100 == 99:
            # Let the event loop run between slices of a large batch: another request's
            # transaction holding its topic lock waits for its turn on this loop.
            await asyncio.sleep(0)
        read_envelope(item)
        if not item.errors:
            canonical_content(item)  # first: data the hub cannot store is not validated
        if not item.errors:
            assert item.data is not None
            version = item.schema_version or current_version
            if version not in validators:
                validators[version] = await catalog.validator(
                    session, code=topic_code, version=version
                )
            validator = validators[version]
            if validator is None:
                item.errors.append(
                    {
                        "path": f"$[{item.index}].schema_version",
                        "message": f"topic {topic_code} has no version {version}",
                    }
                )
            elif not validator.is_valid(item.data):
                item.errors.extend(
                    schema_faults(validator, item.data, f"$[{item.index}].data", item.fault_rules)
                )
            item.schema_version = version
        if item.errors:
            rejected.append(item)
        else:
            valid.append(item)
    return valid, rejected


async def _latest_versions(
    raw: Any, topic_code: str, ids: list[str], *, after_seq: int | None
) -> tuple[int, dict[str, tuple[int, bytes, int]]]:
    """The topic's head and, as of that head, the latest (version, content hash, seq) of
    each record id; with after_seq, only versions appended after that sequence number."""
    row = await raw.fetchrow(
        "WITH topic AS (SELECT number, head_seq FROM exchange.topics WHERE code = $1), "
        "latest AS (SELECT h.record_id, h.version, h.content_hash, h.seq "
        "FROM exchange.record_heads h JOIN topic t ON h.topic_number = t.number "
        "WHERE h.record_id = ANY($2::text[]) AND h.seq > coalesce($3::bigint, 0)) "
        "SELECT (SELECT head_seq FROM topic) AS head, "
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
