"""Transactional outbox and inbox.

A service writes its state change and its events into `<schema>.outbox` in one transaction;
the relay publishes unsent rows with publisher confirms and only then marks them sent, so
a crash in between republishes (at-least-once). Consumers record each processed event id in
`<schema>.inbox` in the same transaction as their effect (effect exactly-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.bus.base import EventBus
from govhub_common.db import Database, listen_forever, raw_connection
from govhub_common.events import CloudEvent, StoredEvent, traceparent_of
from govhub_common.faults import DatabaseGate, transient_fault
from govhub_common.metrics import (
    EVENTS_CONSUMED,
    EVENTS_PUBLISHED,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
)

log = logging.getLogger("govhub.outbox")


def outbox_table(metadata: sa.MetaData, schema: str) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("routing_key", sa.Text, nullable=False),
        # json, not jsonb: the row is written once and read back as its text by the relay;
        # parsing a 1,000-record batch into jsonb cost several ms per event, under the
        # caller's locks.
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Index("outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")),
        schema=schema,
    )


def inbox_table(metadata: sa.MetaData, schema: str) -> sa.Table:
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        # Text: a CloudEvents id is any non-empty string, not only a UUID.
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema=schema,
    )


def outbox_channel(schema: str) -> str:
    """The NOTIFY channel that wakes the schema's outbox relays."""
    return f"govhub_outbox_{schema}"


def outbox_payload_type(op: object, schema: str, type_name: str) -> None:
    """For a service's migration changing the outbox payload between json and jsonb."""
    op.execute(  # type: ignore[attr-defined]
        f"ALTER TABLE {schema}.outbox ALTER COLUMN payload TYPE {type_name} "
        f"USING payload::{type_name}"
    )


def inbox_event_id_type(op: object, schema: str, type_name: str) -> None:
    """For a service's migration changing the inbox's event ids between uuid and text."""
    op.execute(  # type: ignore[attr-defined]
        f"ALTER TABLE {schema}.inbox ALTER COLUMN event_id TYPE {type_name} "
        f"USING event_id::{type_name}"
    )


def create_outbox_tables(op: object, schema: str) -> None:
    """For a service's first migration: `create_outbox_tables(op, "exchange")`."""
    metadata = sa.MetaData()
    for table in (outbox_table(metadata, schema), inbox_table(metadata, schema)):
        table.create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]


async def add_events(session: AsyncSession, schema: str, events: Sequence[CloudEvent]) -> None:
    """Stage events in the caller's transaction; they leave only if it commits."""
    if not events:
        return
    # One round trip, straight on the driver: callers often hold a lock until commit (the
    # exchange's topic row). Payloads go as text (the driver's json codec would encode a
    # string again).
    raw = await raw_connection(session)
    await raw.execute(
        f"WITH staged AS (INSERT INTO {schema}.outbox (event_id, type, routing_key, payload) "
        "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]::json[])) "
        f"SELECT pg_notify('{outbox_channel(schema)}', '')",
        [e.id for e in events],
        [e.type for e in events],
        [e.routing_key for e in events],
        [e.to_json().decode() for e in events],
    )


class OutboxRelay:
    """Publishes a schema's unsent outbox rows; several replicas share them (SKIP LOCKED)."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        schema: str,
        *,
        service: str,
        batch_size: int = 200,
        poll_seconds: float = 0.2,
    ) -> None:
        self.db = db
        self.bus = bus
        self.schema = schema
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """End run() after its current round, even if a cancellation is lost on the way."""
        self._stopping = True
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were published."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    sa.text(
                        "SELECT id, event_id::text AS event_id, type, routing_key, "
                        f"payload::text AS payload FROM {self.schema}.outbox "
                        "WHERE sent_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
                    ),
                    {"n": self.batch_size},
                )
            ).all()
            if not rows:
                return 0
            events = [
                StoredEvent(row.event_id, row.type, row.routing_key, traceparent_of(body), body)
                for row, body in ((row, row.payload.encode()) for row in rows)
            ]
            await self.bus.publish(events)
            await self.mark_sent(session, [row.id for row in rows])
        for event in events:
            EVENTS_PUBLISHED.labels(self.service, event.type).inc()
        return len(rows)

    async def mark_sent(self, session: AsyncSession, ids: list[int]) -> None:
        await session.execute(
            sa.text(f"UPDATE {self.schema}.outbox SET sent_at = now() WHERE id = ANY(:ids)"),
            {"ids": ids},
        )

    async def update_gauges(self) -> None:
        async with self.db.session() as session:
            row = (
                await session.execute(
                    sa.text(
                        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
                        f"FROM {self.schema}.outbox WHERE sent_at IS NULL"
                    )
                )
            ).one()
        OUTBOX_PENDING.labels(self.service).set(row.n)
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(row.age))

    async def run(self) -> None:
        """Until cancelled: publish whatever is pending, then sleep until poked or polled."""
        failures = 0
        while not self._stopping:
            # Cleared before the work, not after: a NOTIFY arriving while a batch is being
            # published must wake the next round, not be forgotten until the next poll.
            self._wake.clear()
            try:
                while await self.relay_once() == self.batch_size:
                    pass
                failures = 0
                await self.update_gauges()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("outbox relay for %s failed (%s); retrying", self.schema, exc)
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def listen(self) -> None:
        """Wake the relay on NOTIFY from any process writing to this schema's outbox."""
        await listen_forever(self.db.url, outbox_channel(self.schema), lambda _: self.wake())


InboxHandler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


class InFlight:
    """Handlers running now, per consumer group (for the events status endpoint)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def total(self) -> int:
        return sum(self.counts.values())


# A transient fault met while the database answers pings (a deadlock, a serialisation
# failure, a timeout) is retried this many times before it counts as the event's failure.
TRANSIENT_RETRIES = 10


def idempotent(
    db: Database,
    schema: str,
    consumer: str,
    handler: InboxHandler,
    *,
    service: str,
    in_flight: InFlight | None = None,
    gate: DatabaseGate | None = None,
) -> Callable[[CloudEvent], Awaitable[None]]:
    """Wrap a handler so each event id takes effect once: inbox row and effect in one
    transaction; the bus acks only after this returns (after commit).

    Transient faults never reach the bus (which would spend the event's delivery limit on
    them): while the database is unreachable the event waits at the gate, then runs again.
    """
    tracker = in_flight or InFlight()
    gate = gate or DatabaseGate(db.ping, service=service)
    processed = EVENTS_CONSUMED.labels(service, consumer, "processed")
    duplicate = EVENTS_CONSUMED.labels(service, consumer, "duplicate")
    retried = EVENTS_CONSUMED.labels(service, consumer, "retried")
    failed = EVENTS_CONSUMED.labels(service, consumer, "failed")

    async def run(event: CloudEvent) -> None:
        tracker.counts[consumer] = tracker.counts.get(consumer, 0) + 1
        try:
            await _run_until_settled(event)
        finally:
            tracker.counts[consumer] -= 1

    async def _run_until_settled(event: CloudEvent) -> None:
        retries = 0
        while True:
            await gate.wait()
            try:
                await _run(event)
                return
            except Exception as exc:
                fault = transient_fault(exc)
                if fault is None or retries >= TRANSIENT_RETRIES:
                    failed.inc()
                    raise
                retried.inc()
                if fault == "database" and not await gate.reachable():
                    retries = 0  # an outage is waited out, however long; it is nobody's fault
                    continue
                retries += 1
                log.warning(
                    "consumer %s met a transient fault on event %s (%s: %s); retry %d of %d",
                    consumer,
                    event.id,
                    type(exc).__name__,
                    exc,
                    retries,
                    TRANSIENT_RETRIES,
                )
                await asyncio.sleep(min(5.0, 0.05 * 2**retries))

    async def _run(event: CloudEvent) -> None:
        async with db.session() as session:
            inserted = (
                await session.execute(
                    sa.text(
                        f"INSERT INTO {schema}.inbox (consumer, event_id) VALUES (:c, :e) "
                        "ON CONFLICT DO NOTHING RETURNING 1"
                    ),
                    {"c": consumer, "e": event.id},
                )
            ).first()
            if inserted is None:
                duplicate.inc()
                return
            await handler(session, event)
        processed.inc()

    return run


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()
