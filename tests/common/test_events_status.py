"""Operators (and the demo) see a service's backlog on the real RabbitMQ."""

import asyncio
import uuid

import aiormq
import pytest

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


async def test_a_throwaway_hub_leaves_no_queue_behind(amqp_url: str) -> None:
    exchange = f"govhub.test.{uuid.uuid4().hex[:8]}"
    prefix = f"{exchange}."

    async def nothing(event: CloudEvent) -> None:
        return None

    throwaway = RabbitMQBus(
        amqp_url, exchange=exchange, queue_prefix=prefix, delete_queues_at_stop=True
    )
    await throwaway.start()
    await throwaway.subscribe(Subscription("bench", ["test.#"], nothing))
    await throwaway.close()

    kept = RabbitMQBus(amqp_url, exchange=exchange, queue_prefix=prefix)
    await kept.start()
    try:
        # What the throwaway hub declared is gone; a normal hub's queues outlive it.
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await kept.backlog("bench")
        await kept.subscribe(Subscription("durable", ["test.#"], nothing))
        await kept.close()
        await kept.start()
        assert await kept.backlog("durable") == 0
    finally:
        await kept.delete_declared_queues()
        await kept.close()
