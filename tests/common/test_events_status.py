"""Operators (and the demo) see a service's backlog on the real RabbitMQ."""

import asyncio
import uuid

from govhub_common.bus import Subscription
from govhub_common.bus.rabbitmq import RabbitMQBus
from govhub_common.events import CloudEvent
from govhub_common.testing import wait_for


async def test_backlog_counts_events_waiting_in_a_groups_queue(amqp_url: str) -> None:
    exchange = f"govhub.test.{uuid.uuid4().hex[:8]}"
    bus = RabbitMQBus(amqp_url, exchange=exchange, queue_prefix=f"{exchange}.", prefetch=1)
    await bus.start()
    release = asyncio.Event()

    async def slow(event: CloudEvent) -> None:
        await release.wait()

    try:
        await bus.subscribe(Subscription("slow", ["test.#"], slow))
        await bus.publish([CloudEvent(source="t", type="test.thing.happened") for _ in range(5)])
        # One is with the consumer (prefetch 1), four wait in the queue.
        assert await wait_for(lambda: _equals(bus, 4)) is True
        release.set()
        assert await wait_for(lambda: _equals(bus, 0)) is True
    finally:
        release.set()
        await bus.delete_declared_queues()
        await bus.close()


async def _equals(bus: RabbitMQBus, n: int) -> bool:
    return await bus.backlog("slow") == n
