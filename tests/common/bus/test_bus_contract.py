"""The event bus contract, run against both transports: in-process and the real RabbitMQ.

Each test drives the real outbox (PostgreSQL) -> relay -> bus -> idempotent consumer path.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.bus import InProcessBus, Subscription
from govhub_common.bus.base import EventBus
from govhub_common.bus.rabbitmq import RabbitMQBus
from govhub_common.db import Database
from govhub_common.events import CloudEvent, traceparent_of
from govhub_common.metrics import EVENTS_CONSUMED
from govhub_common.outbox import OutboxRelay, add_events, idempotent, inbox_table, outbox_table
from govhub_common.testing import rabbitmqctl, wait_for

DELIVERY_LIMIT = 2


@dataclass
class Rig:
    """One transport wired to a schema with an outbox, an inbox and an effects table."""

    transport: str
    db: Database
    bus: EventBus
    schema: str
    amqp: dict[str, str] = field(default_factory=dict)

    def relay(self) -> OutboxRelay:
        return OutboxRelay(self.db, self.bus, self.schema, service="contract", poll_seconds=0.05)

    def event(
        self, records: list[dict[str, object]] | None = None, kind: str = "thing"
    ) -> CloudEvent:
        return CloudEvent(
            source="govhub/test",
            type="test.record.published",
            data={"records": records or [{"n": 1}]},
            routing_suffix=kind,
        )

    async def stage(self, *events: CloudEvent) -> None:
        async with self.db.session() as session:
            await add_events(session, self.schema, list(events))

    def effect_handler(self) -> object:
        """Records one effect row per event, in the consumer's transaction."""

        async def handle(session: AsyncSession, event: CloudEvent) -> None:
            await session.execute(
                sa.text(f"INSERT INTO {self.schema}.effects (event_id, records) VALUES (:e, :n)"),
                {"e": event.id, "n": len(event.data["records"])},
            )

        return handle

    async def subscribe_effects(self, group: str, pattern: str = "test.record.published.#") -> None:
        handler = idempotent(self.db, self.schema, group, self.effect_handler(), service="contract")  # type: ignore[arg-type]
        await self.bus.subscribe(Subscription(self.group(group), [pattern], handler))

    def group(self, name: str) -> str:
        return name

    async def effects(self) -> list[tuple[str, int]]:
        async with self.db.session() as session:
            rows = await session.execute(
                sa.text(f"SELECT event_id::text, records FROM {self.schema}.effects")
            )
            return [(r[0], r[1]) for r in rows]

    async def unsent(self) -> int:
        async with self.db.session() as session:
            return int(
                (
                    await session.execute(
                        sa.text(f"SELECT count(*) FROM {self.schema}.outbox WHERE sent_at IS NULL")
                    )
                ).scalar_one()
            )


@pytest.fixture(params=["inprocess", "rabbitmq"])
async def rig(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Rig]:
    async for made in make_rig(request, db_url, request.param):
        yield made


@pytest.fixture
async def rabbit_rig(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Rig]:
    """On a virtual host of its own, so dropping its connections touches nobody else's."""
    vhost = f"govhub-test-{uuid.uuid4().hex[:8]}"
    await rabbitmqctl("add_vhost", vhost)
    await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        async for made in make_rig(request, db_url, "rabbitmq", vhost=vhost):
            yield made
    finally:
        await rabbitmqctl("delete_vhost", vhost)


async def make_rig(
    request: pytest.FixtureRequest, db_url: str, transport: str, vhost: str | None = None
) -> AsyncIterator[Rig]:
    schema = f"contract_{uuid.uuid4().hex[:8]}"
    db = Database(db_url, pool_size=4)
    metadata = sa.MetaData()
    outbox_table(metadata, schema)
    inbox_table(metadata, schema)
    sa.Table(
        "effects",
        metadata,
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        schema=schema,
    )
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        await conn.run_sync(metadata.create_all)
    amqp: dict[str, str] = {}
    bus: EventBus
    if transport == "rabbitmq":
        url = request.getfixturevalue("amqp_url")
        if vhost is not None:
            url = url.rstrip("/") + "/" + vhost
        exchange = f"govhub.test.{uuid.uuid4().hex[:8]}"
        amqp = {"url": url, "exchange": exchange, "prefix": f"{exchange}.", "vhost": vhost or "/"}
        bus = RabbitMQBus(
            url,
            exchange=exchange,
            queue_prefix=amqp["prefix"],
            delivery_limit=DELIVERY_LIMIT,
            prefetch=8,
        )
    else:
        bus = InProcessBus(delivery_limit=DELIVERY_LIMIT, retry_delay=0.01)
    await bus.start()
    yield Rig(transport, db, bus, schema, amqp)
    if isinstance(bus, RabbitMQBus):
        await bus.delete_declared_queues()
    await bus.close()
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    await db.close()


async def test_a_thousand_records_travel_as_one_event(rig: Rig) -> None:
    await rig.subscribe_effects("batch")
    await rig.stage(rig.event([{"n": i} for i in range(1000)]))
    await rig.relay().relay_once()
    effects = await wait_for(rig.effects)
    assert [n for _, n in effects] == [1000]


async def test_routing_keys_select_consumers(rig: Rig) -> None:
    await rig.subscribe_effects("only-licences", "test.record.published.licence")
    await rig.stage(rig.event(kind="pension"), rig.event(kind="licence"))
    await rig.relay().relay_once()
    effects = await wait_for(rig.effects)
    await asyncio.sleep(0.2)  # room for a wrongly routed event to arrive too
    assert len(await rig.effects()) == len(effects) == 1


async def test_an_event_written_in_a_rolled_back_transaction_is_never_published(rig: Rig) -> None:
    await rig.subscribe_effects("rollback")
    doomed = rig.event([{"n": "doomed"}])
    with pytest.raises(RuntimeError):
        async with rig.db.session() as session:
            await add_events(session, rig.schema, [doomed])
            raise RuntimeError("the state change failed")
    marker = rig.event([{"n": "marker"}])
    await rig.stage(marker)
    await rig.relay().relay_once()
    effects = await wait_for(rig.effects)
    assert [event_id for event_id, _ in effects] == [marker.id]
    assert doomed.id not in {e for e, _ in await rig.effects()}


async def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue(rig: Rig) -> None:
    calls: list[str] = []

    async def always_fails(event: CloudEvent) -> None:
        calls.append(event.id)
        raise ValueError("cannot process")

    await rig.bus.subscribe(Subscription("poison", ["test.record.published.#"], always_fails))
    poison = rig.event()
    await rig.stage(poison)
    await rig.relay().relay_once()
    dead = await wait_for(lambda: rig.bus.dead_letters("poison"), timeout=20)
    assert [letter.event_id for letter in dead] == [poison.id]
    assert dead[0].reason == "ValueError: cannot process"
    # The first delivery plus DELIVERY_LIMIT redeliveries, then no more.
    assert calls == [poison.id] * (DELIVERY_LIMIT + 1)


class CrashAfterPublish(OutboxRelay):
    """A relay that dies between the broker's confirm and marking the rows sent."""

    async def mark_sent(self, session: AsyncSession, ids: list[int]) -> None:
        raise ConnectionAbortedError("process died before marking sent")


CRASHING_RELAY = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from govhub_common.bus.rabbitmq import RabbitMQBus
    from govhub_common.db import Database
    from govhub_common.outbox import OutboxRelay

    db_url, amqp_url, exchange, prefix, schema = sys.argv[1:6]

    class KilledAfterPublish(OutboxRelay):
        async def mark_sent(self, session, ids):
            os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        bus = RabbitMQBus(amqp_url, exchange=exchange, queue_prefix=prefix)
        await bus.start()
        await KilledAfterPublish(Database(db_url), bus, schema, service="contract").relay_once()

    asyncio.run(main())
    """
)


async def test_a_relay_killed_between_publish_and_mark_sent_takes_effect_once(
    rig: Rig, db_url: str
) -> None:
    await rig.subscribe_effects("crash")
    event = rig.event([{"n": 1}, {"n": 2}])
    await rig.stage(event)
    if rig.transport == "rabbitmq":
        child = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-c",
                CRASHING_RELAY,
                db_url,
                rig.amqp["url"],
                rig.amqp["exchange"],
                rig.amqp["prefix"],
                rig.schema,
            ],
            capture_output=True,
            timeout=60,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    else:
        with pytest.raises(ConnectionAbortedError):
            await CrashAfterPublish(rig.db, rig.bus, rig.schema, service="contract").relay_once()
    await wait_for(rig.effects)
    assert await rig.unsent() == 1  # the crash left the row unsent: it will go again

    duplicates = EVENTS_CONSUMED.labels("contract", "crash", "duplicate")
    before = duplicates._value.get()
    assert await rig.relay().relay_once() == 1  # the restarted relay republishes it
    await wait_for(lambda: duplicates._value.get() > before)  # ...and the inbox drops it
    assert await rig.effects() == [(event.id, 2)]  # effect exactly once
    assert await rig.unsent() == 0


async def test_events_survive_a_broker_connection_drop(rabbit_rig: Rig) -> None:
    rig = rabbit_rig
    await rig.subscribe_effects("drop")
    relay = rig.relay()
    reconnected = asyncio.Event()
    connection = rig.bus._connection  # type: ignore[attr-defined]
    connection.reconnect_callbacks.add(lambda *_: reconnected.set())
    task = asyncio.create_task(relay.run())
    try:
        await rig.stage(rig.event([{"n": "before"}]))
        relay.wake()
        await wait_for(rig.effects)
        await rabbitmqctl(
            "close_all_connections", "--vhost", rig.amqp["vhost"], "govhub test: connection drop"
        )
        await asyncio.wait_for(reconnected.wait(), timeout=60)  # it did drop, and came back
        after = [rig.event([{"n": f"after-{i}"}]) for i in range(5)]
        await rig.stage(*after)
        relay.wake()
        effects = await wait_for(lambda: _at_least(rig, 6), timeout=60)
        assert len({e for e, _ in effects}) == 6
        assert await rig.unsent() == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _at_least(rig: Rig, n: int) -> list[tuple[str, int]] | None:
    effects = await rig.effects()
    return effects if len(effects) >= n else None


def test_an_event_survives_its_json_form() -> None:
    from datetime import date
    from decimal import Decimal

    event = CloudEvent(
        source="govhub/test",
        type="test.record.published",
        subject="ER-1",
        data={"records": [{"amount": Decimal("1850.50"), "day": date(2008, 3, 1), "名称": "广州"}]},
    )
    again = CloudEvent.from_json(event.to_json())
    assert again.id == event.id and again.time == event.time and again.subject == "ER-1"
    assert again.data == {"records": [{"amount": "1850.50", "day": "2008-03-01", "名称": "广州"}]}


def test_the_relay_reads_an_events_trace_from_its_stored_json() -> None:
    # The relay puts it on the broker message without parsing the event (a record may
    # carry a field of that name too; it is not the event's).
    event = CloudEvent(
        source="govhub/test",
        type="test.record.published",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        data={
            "records": [{"traceparent": "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"}]
        },
    )
    assert traceparent_of(event.to_json()) == event.traceparent
    assert traceparent_of(b'{"id":"x","data":{"traceparent":"not the event\'s"}}') == ""


async def test_a_retired_consumer_group_leaves_no_queue_filling_up(rabbit_rig: Rig) -> None:
    # A group a service dropped: its durable queue, still bound, would keep every event.
    import aio_pika

    rig = rabbit_rig
    name = rig.amqp["prefix"] + "retired"
    connection = await aio_pika.connect(rig.amqp["url"])
    try:
        channel = await connection.channel()
        await channel.declare_exchange(
            rig.amqp["exchange"], aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(rig.amqp["exchange"], routing_key="test.record.published.#")
        await channel.declare_queue(f"{name}.dlq", durable=True)
        await rig.stage(rig.event([{"n": 1}]))
        await rig.relay().relay_once()
        assert await rig.bus.backlog("retired") == 1  # what an old version left waiting

        await rig.bus.retire("retired")

        for gone in (name, f"{name}.dlq"):
            probe = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
                await probe.declare_queue(gone, passive=True)
    finally:
        await connection.close()
