"""RabbitMQ transport (aio-pika): a durable topic exchange, one quorum queue per consumer
group with a delivery limit and a dead-letter queue, publisher confirms, prefetch.
The robust connection reconnects by itself and restores queues and consumers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)

from govhub_common.bus.base import Subscription
from govhub_common.events import CloudEvent, StoredEvent
from govhub_common.metrics import DEAD_LETTERS

log = logging.getLogger("govhub.bus")


class RabbitMQBus:
    def __init__(
        self,
        url: str,
        *,
        exchange: str = "govhub.events",
        queue_prefix: str = "",
        prefetch: int = 32,
        delivery_limit: int = 5,
        service: str = "govhub",
        delete_queues_at_stop: bool = False,
    ) -> None:
        self.url = url
        self.delete_queues_at_stop = delete_queues_at_stop
        self.exchange_name = exchange
        self.queue_prefix = queue_prefix
        self._declared_queues: list[str] = []
        self._consumer_channels: list[AbstractChannel] = []
        self.dlx_name = f"{exchange}.dlx"
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.service = service
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._publish_lock = asyncio.Lock()

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": self.service}
        )
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._declare_exchange(self._publish_channel)

    async def _declare_exchange(self, channel: AbstractChannel) -> AbstractExchange:
        await channel.declare_exchange(self.dlx_name, aio_pika.ExchangeType.DIRECT, durable=True)
        return await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def close(self) -> None:
        if self._connection is not None:
            if self.delete_queues_at_stop:
                try:
                    # Consumers first: a queue deleted under a live consumer can be declared
                    # again by the client's recovery.
                    for channel in self._consumer_channels:
                        await channel.close()
                    await self.delete_declared_queues()
                except Exception as exc:  # another process of the hub may have gone first
                    log.warning("could not delete the hub's queues (%s)", exc)
            await self._connection.close()
            self._connection = None
            self._consumer_channels.clear()

    async def ping(self) -> None:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionError("not connected to RabbitMQ")

    async def publish(self, events: Sequence[CloudEvent | StoredEvent]) -> None:
        if self._exchange is None:
            raise ConnectionError("bus not started")
        exchange = self._exchange
        async with self._publish_lock:
            # Publish all, then wait for every confirm together: one round trip per batch.
            confirms = [
                exchange.publish(
                    aio_pika.Message(
                        event.to_json(),
                        message_id=event.id,
                        type=event.type,
                        content_type="application/cloudevents+json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        headers={"traceparent": event.traceparent},
                    ),
                    routing_key=event.routing_key,
                    mandatory=False,
                )
                for event in events
            ]
            await asyncio.gather(*confirms)

    def _queue_arguments(self, group: str) -> dict[str, object]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dlx_name,
            "x-dead-letter-routing-key": group,
        }

    async def subscribe(self, subscription: Subscription) -> None:
        if self._connection is None:
            raise ConnectionError("bus not started")
        channel = await self._connection.channel()
        self._consumer_channels.append(channel)
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await self._declare_exchange(channel)
        name = self.queue_prefix + subscription.group
        dlq = await channel.declare_queue(
            f"{name}.dlq", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(self.dlx_name, routing_key=name)
        queue = await channel.declare_queue(
            name, durable=True, arguments=self._queue_arguments(name)
        )
        self._declared_queues += [name, f"{name}.dlq"]
        for pattern in subscription.patterns:
            await queue.bind(exchange, routing_key=pattern)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                event = CloudEvent.from_json(message.body)
            except Exception:
                log.exception("unparseable message on %s; dead-lettering it", subscription.group)
                await message.reject(requeue=False)
                DEAD_LETTERS.labels(self.service, subscription.group).inc()
                return
            try:
                await subscription.handler(event)
            except Exception:
                deliveries = int(str((message.headers or {}).get("x-delivery-count") or 0)) + 1
                log.exception(
                    "consumer %s failed on event %s (delivery %d of %d)",
                    subscription.group,
                    event.id,
                    deliveries,
                    self.delivery_limit + 1,
                )
                if deliveries > self.delivery_limit:
                    DEAD_LETTERS.labels(self.service, subscription.group).inc()
                await message.nack(requeue=True)
                return
            await message.ack()

        await queue.consume(on_message)

    async def retire(self, group: str) -> None:
        if self._connection is None:
            raise ConnectionError("bus not started")
        async with self._connection.channel() as channel:
            name = self.queue_prefix + group
            for queue in (name, f"{name}.dlq"):
                await channel.queue_delete(queue)  # absent queues are fine

    async def backlog(self, group: str) -> int:
        if self._connection is None:
            raise ConnectionError("bus not started")
        async with self._connection.channel() as channel:
            queue = await channel.declare_queue(self.queue_prefix + group, passive=True)
            return int(queue.declaration_result.message_count or 0)

    async def dead_letters(self, group: str) -> list[CloudEvent]:
        """Reads (and requeues) what is parked in the group's dead-letter queue."""
        if self._connection is None:
            raise ConnectionError("bus not started")
        async with self._connection.channel() as channel:
            queue = await channel.declare_queue(
                f"{self.queue_prefix}{group}.dlq",
                durable=True,
                arguments={"x-queue-type": "quorum"},
            )
            events: list[CloudEvent] = []
            messages = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                messages.append(message)
                events.append(CloudEvent.from_json(message.body))
            for message in messages:
                await message.nack(requeue=True)
            return events

    async def delete_declared_queues(self) -> None:
        """Remove the queues this bus declared (test hubs clean up after themselves)."""
        if self._connection is None:
            return
        async with self._connection.channel() as channel:
            for name in self._declared_queues:
                await channel.queue_delete(name)
        self._declared_queues.clear()
