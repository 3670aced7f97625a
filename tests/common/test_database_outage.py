"""A PostgreSQL outage loses nothing: consumers hold their events and wait, the API answers
503 with Retry-After, readiness says so, and everything resumes when the database is back.

The database here is a cluster of the test's own (the machine's server binaries), since
the shared server must stay up for every other test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.bus import Subscription
from govhub_common.bus.rabbitmq import RabbitMQBus
from govhub_common.db import Database
from govhub_common.events import CloudEvent
from govhub_common.faults import DatabaseGate, transient_fault
from govhub_common.metrics import EVENTS_CONSUMED
from govhub_common.outbox import idempotent, inbox_table
from govhub_common.settings import CommonSettings
from govhub_common.testing import OwnPostgres, running_hub, wait_for

OUTAGE_SECONDS = 20


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
async def effects_db(own_postgres: OwnPostgres) -> AsyncIterator[Database]:
    db = Database(own_postgres.url, pool_size=4)
    metadata = sa.MetaData()
    inbox_table(metadata, "outage")
    sa.Table(
        "effects",
        metadata,
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        schema="outage",
    )
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE SCHEMA outage"))
        await conn.run_sync(metadata.create_all)
    yield db
    await db.close()


async def record_effect(session: AsyncSession, event: CloudEvent) -> None:
    # A little work per event, so the queue is still draining when the database stops.
    await session.execute(sa.text("SELECT pg_sleep(0.02)"))
    await session.execute(
        sa.text("INSERT INTO outage.effects (event_id, n) VALUES (:e, :n)"),
        {"e": event.id, "n": event.data["n"]},
    )


async def effects(db: Database) -> list[tuple[str, int]]:
    async with db.session() as session:
        rows = await session.execute(sa.text("SELECT event_id, n FROM outage.effects"))
        return [(r[0], r[1]) for r in rows]


async def test_a_twenty_second_database_outage_loses_no_event(
    own_postgres: OwnPostgres, effects_db: Database, amqp_url: str
) -> None:
    exchange = f"govhub.test.{uuid.uuid4().hex[:8]}"
    bus = RabbitMQBus(
        amqp_url,
        exchange=exchange,
        queue_prefix=f"{exchange}.",
        prefetch=8,
        delivery_limit=2,  # would be spent in well under a second if outages counted
        retry_delay=0.01,
    )
    await bus.start()
    gate = DatabaseGate(effects_db.ping, service="outage", max_retry_seconds=1.0)
    handler = idempotent(
        effects_db, "outage", "records", record_effect, service="outage", gate=gate
    )
    retried = EVENTS_CONSUMED.labels("outage", "records", "retried")
    retried_before = retried._value.get()
    try:
        await bus.subscribe(Subscription("records", ["test.outage.#"], handler))
        events = [
            CloudEvent(source="govhub/test", type="test.outage", data={"n": n}) for n in range(400)
        ]
        await bus.publish(events)
        await wait_for(lambda: _at_least(effects_db, 40), timeout=60)

        own_postgres.stop()
        await wait_for(lambda: not gate.is_open, timeout=10)  # the consumers met the outage
        await asyncio.sleep(OUTAGE_SECONDS)
        assert not gate.is_open  # ...and held their events all along
        assert await bus.dead_letter_count("records") == 0
        own_postgres.start()

        done = await wait_for(lambda: _at_least(effects_db, len(events)), timeout=120)
        await asyncio.sleep(0.5)  # room for a repeat to show up
        done = await effects(effects_db)
        assert sorted(done) == sorted((e.id, e.data["n"]) for e in events)  # each once
        assert await bus.dead_letter_count("records") == 0
        assert await bus.backlog("records") == 0
        assert gate.is_open
        assert retried._value.get() > retried_before
    finally:
        await bus.delete_declared_queues()
        await bus.close()
        await gate.close_prober()


async def _at_least(db: Database, n: int) -> bool:
    try:
        return len(await effects(db)) >= n
    except Exception as exc:
        if transient_fault(exc) is None:
            raise
        return False


async def test_the_api_answers_503_with_retry_after_while_the_database_is_down(
    own_postgres: OwnPostgres,
) -> None:
    async with running_hub(own_postgres.url, settings=CommonSettings()) as hub:
        operator = hub.operator()
        assert (await hub.client.get("/exchange/v1/agencies", headers=operator)).status_code == 200

        own_postgres.stop()
        for method, path in (
            ("GET", "/exchange/v1/agencies"),
            ("GET", "/alerting/v1/warnings"),
            ("GET", "/sms/v1/templates"),
            ("GET", "/registry/v1/conflicts"),
            # The registry's lookup fast path, outside the app's own handlers.
            ("GET", "/registry/v1/legal-entities/91440101MA59CTL309"),
        ):
            reply = await hub.client.request(method, path, headers=operator)
            assert reply.status_code == 503, (path, reply.text)
            assert reply.headers["content-type"] == "application/problem+json"
            assert reply.headers["retry-after"] == "5"
            assert reply.json()["code"] == "database_unavailable"
        ready = await hub.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("failed")

        own_postgres.start()

        async def answers() -> bool:
            reply = await hub.client.get("/exchange/v1/agencies", headers=operator)
            return reply.status_code == 200

        await wait_for(answers, timeout=30)
        assert (await hub.client.get("/readyz")).status_code == 200
