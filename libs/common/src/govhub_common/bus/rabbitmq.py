"""RabbitMQ transport (aio-pika): a durable topic exchange, one quorum queue per consumer
group with a dead-letter queue, publisher confirms, prefetch. The robust connection
reconnects by itself and restores queues and consumers.

Two limits, because two different things make an event come back:
- a handler that raises is tried again in place, with backoff, `delivery_limit` more
  times; then this process parks the event in the dead-letter queue with the reason.
  Transient faults never get here (outbox.idempotent waits them out).
- a consumer that dies holding events (a crash, a lost connection) returns all its
  unacknowledged events, and the quorum queue counts a delivery for each: its
  `x-delivery-limit` is only the backstop against an event that kills its consumer, set
  to `crash_delivery_limit`, so that a crash loop does not dead-letter the healthy events
  that were merely in flight. A dead letter however made is counted from the broker's own
  figures (govhub_bus_dead_letter_queue_messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from govhub_common.bus.base import DeadLetter, Subscription
from govhub_common.clock import utcnow
from govhub_common.events import CloudEvent, StoredEvent
from govhub_common.faults import BrokerUnavailable
from govhub_common.logs import mask_text
from govhub_common.metrics import DEAD_LETTER_QUEUE_MESSAGES, DEAD_LETTERS

log = logging.getLogger("govhub.bus")

# Our headers on a dead-lettered message (the broker adds x-death when it dead-letters).
REASON = "x-govhub-reason"
ATTEMPTS = "x-govhub-attempts"
DEAD_LETTERED_AT = "x-govhub-dead-lettered-at"
# What one redrive call scans of a dead-letter queue at most.
REDRIVE_SCAN_LIMIT = 10_000


class RabbitMQBus:
    def __init__(
        self,
        url: str,
        *,
        exchange: str = "govhub.events",
        queue_prefix: str = "",
        prefetch: int = 32,
        delivery_limit: int = 5,
        crash_delivery_limit: int = 20,
        retry_delay: float = 0.2,
        dead_letter_poll_seconds: float = 15.0,
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
        self.crash_delivery_limit = crash_delivery_limit
        self.retry_delay = retry_delay
        self.dead_letter_poll_seconds = dead_letter_poll_seconds
        self.service = service
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._dlx: AbstractExchange | None = None
        self._publish_lock = asyncio.Lock()
        self._groups: list[str] = []
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": self.service}
        )
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._declare_exchange(self._publish_channel)
        self._dlx = await self._publish_channel.get_exchange(self.dlx_name, ensure=False)

    async def _declare_exchange(self, channel: AbstractChannel) -> AbstractExchange:
        await channel.declare_exchange(self.dlx_name, aio_pika.ExchangeType.DIRECT, durable=True)
        return await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    def _connected(self) -> AbstractRobustConnection:
        connection = self._connection
        if connection is None or connection.is_closed:
            raise BrokerUnavailable("not connected to RabbitMQ")
        return connection

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
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

    @property
    def connected(self) -> bool:
        connection = self._connection
        return (
            connection is not None
            and not connection.is_closed
            and connection.connected.is_set()
            and connection.transport is not None
        )

    async def ping(self) -> None:
        # The robust connection is "not closed" while it reconnects: what tells is whether
        # it has a transport now.
        connection = self._connected()
        if not connection.connected.is_set() or connection.transport is None:
            raise BrokerUnavailable("the connection to RabbitMQ is down; reconnecting")

    async def publish(self, events: Sequence[CloudEvent | StoredEvent]) -> None:
        if self._exchange is None:
            raise BrokerUnavailable("bus not started")
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

    def _queue_arguments(self, group: str) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.crash_delivery_limit,
            "x-dead-letter-exchange": self.dlx_name,
            "x-dead-letter-routing-key": group,
        }

    async def subscribe(self, subscription: Subscription) -> None:
        connection = self._connected()
        channel = await connection.channel()
        self._consumer_channels.append(channel)
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await self._declare_exchange(channel)
        group = subscription.group
        name = self.queue_prefix + group
        dlq = await channel.declare_queue(
            f"{name}.dlq", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(self.dlx_name, routing_key=name)
        queue = await self._declare_group_queue(channel, name)
        self._declared_queues += [name, f"{name}.dlq"]
        self._groups.append(group)
        DEAD_LETTERS.labels(self.service, group)  # a series at 0 before the first one
        for pattern in subscription.patterns:
            await queue.bind(exchange, routing_key=pattern)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                event = CloudEvent.from_json(message.body)
            except Exception as exc:
                await self._dead_letter(message, group, f"not a CloudEvent: {exc}", attempts=1)
                return
            attempts = self.delivery_limit + 1
            for attempt in range(1, attempts + 1):
                try:
                    await subscription.handler(event)
                except Exception as exc:
                    log.exception(
                        "consumer %s failed on event %s (attempt %d of %d)",
                        group,
                        event.id,
                        attempt,
                        attempts,
                    )
                    if attempt == attempts:
                        reason = f"{type(exc).__name__}: {exc}"
                        await self._dead_letter(message, group, reason, attempts=attempt)
                        return
                    await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
                    continue
                await message.ack()
                return

        await queue.consume(on_message)
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_dead_letters(), name="bus-dlq-gauge")

    async def _declare_group_queue(self, channel: AbstractChannel, name: str) -> AbstractQueue:
        try:
            return await channel.declare_queue(
                name, durable=True, arguments=self._queue_arguments(name)
            )
        except aio_pika.exceptions.ChannelPreconditionFailed as exc:
            # Declared by an older version with other arguments (its delivery limit): a
            # quorum queue's arguments cannot change, so it keeps them until an operator
            # moves it (docs/operations.md).
            log.warning("queue %s keeps the arguments it was declared with (%s)", name, exc)
        channel = await self._connected().channel()
        self._consumer_channels.append(channel)
        await channel.set_qos(prefetch_count=self.prefetch)
        return await channel.declare_queue(name, passive=True)

    async def _dead_letter(
        self, message: AbstractIncomingMessage, group: str, reason: str, *, attempts: int
    ) -> None:
        """Park a message in the group's dead-letter queue with why, then let it go."""
        if self._dlx is None:
            raise BrokerUnavailable("bus not started")
        headers: dict[str, Any] = dict(message.headers or {})
        headers[REASON] = mask_text(reason)[:1000]
        headers[ATTEMPTS] = attempts
        headers[DEAD_LETTERED_AT] = utcnow().isoformat()
        await self._dlx.publish(_copy(message, headers), routing_key=self.queue_prefix + group)
        await message.ack()
        DEAD_LETTERS.labels(self.service, group).inc()
        log.error("event %s dead-lettered for %s: %s", message.message_id, group, reason)

    async def _poll_dead_letters(self) -> None:
        """Export each group's dead-letter queue depth as the broker counts it."""
        while True:
            for group in list(self._groups):
                try:
                    count = await self.dead_letter_count(group)
                except Exception as exc:  # the broker is away; the gauge keeps its value
                    log.debug("could not read %s's dead-letter queue (%s)", group, exc)
                    continue
                DEAD_LETTER_QUEUE_MESSAGES.labels(self.service, group).set(count)
            await asyncio.sleep(self.dead_letter_poll_seconds)

    async def retire(self, group: str) -> None:
        async with self._connected().channel() as channel:
            name = self.queue_prefix + group
            for queue in (name, f"{name}.dlq"):
                await channel.queue_delete(queue)  # absent queues are fine

    async def backlog(self, group: str) -> int:
        async with self._connected().channel() as channel:
            queue = await channel.declare_queue(self.queue_prefix + group, passive=True)
            return int(queue.declaration_result.message_count or 0)

    async def dead_letter_count(self, group: str) -> int:
        async with self._connected().channel() as channel:
            queue = await channel.declare_queue(
                f"{self.queue_prefix}{group}.dlq",
                durable=True,
                arguments={"x-queue-type": "quorum"},
            )
            return int(queue.declaration_result.message_count or 0)

    async def dead_letters(self, group: str, *, limit: int = 100) -> list[DeadLetter]:
        """Reads (and puts back) what is parked in the group's dead-letter queue."""
        async with self._connected().channel() as channel:
            queue = await channel.declare_queue(
                f"{self.queue_prefix}{group}.dlq",
                durable=True,
                arguments={"x-queue-type": "quorum"},
            )
            messages: list[AbstractIncomingMessage] = []
            while len(messages) < limit:
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                messages.append(message)
            letters = [describe_dead_letter(group, message) for message in messages]
            for message in messages:
                await message.nack(requeue=True)
            return letters

    async def redrive(self, group: str, event_ids: Collection[str] | None = None) -> int:
        """Move dead letters back to the group's own queue (not the exchange: the other
        groups had the event already), with a fresh delivery count."""
        wanted = None if event_ids is None else set(event_ids)
        name = self.queue_prefix + group
        moved = 0
        async with self._connected().channel(publisher_confirms=True) as channel:
            dlq = await channel.declare_queue(
                f"{name}.dlq", durable=True, arguments={"x-queue-type": "quorum"}
            )
            kept = []
            for _ in range(REDRIVE_SCAN_LIMIT):
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                if wanted is not None and dead_letter_id(message) not in wanted:
                    kept.append(message)
                    continue
                headers = {
                    k: v
                    for k, v in (message.headers or {}).items()
                    if not k.startswith(("x-death", "x-first-death", "x-last-death", "x-govhub-"))
                }
                await channel.default_exchange.publish(_copy(message, headers), routing_key=name)
                await message.ack()
                moved += 1
                if wanted is not None and moved == len(wanted):
                    break
            for message in kept:
                await message.nack(requeue=True)
        DEAD_LETTER_QUEUE_MESSAGES.labels(self.service, group).set(
            await self.dead_letter_count(group)
        )
        log.warning("%d dead-lettered events of %s given to its consumers again", moved, group)
        return moved

    async def delete_declared_queues(self) -> None:
        """Remove the queues this bus declared (test hubs clean up after themselves)."""
        if self._connection is None:
            return
        async with self._connection.channel() as channel:
            for name in self._declared_queues:
                await channel.queue_delete(name)
        self._declared_queues.clear()


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """The same event as a new persistent message, with other headers."""
    return aio_pika.Message(
        message.body,
        message_id=message.message_id,
        type=message.type,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,
    )


def dead_letter_id(message: AbstractIncomingMessage) -> str:
    """The event id of a dead letter: the message id the relay set, else the event's."""
    if message.message_id:
        return message.message_id
    with contextlib.suppress(Exception):
        return str(orjson.loads(message.body)["id"])
    return ""


def describe_dead_letter(group: str, message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    envelope: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        parsed = orjson.loads(message.body)
        envelope = parsed if isinstance(parsed, dict) else {}
    reason = headers.get(REASON)
    attempts = headers.get(ATTEMPTS)
    when = _datetime(headers.get(DEAD_LETTERED_AT))
    if reason is None:  # dead-lettered by the broker itself
        deaths = headers.get("x-death")
        first = deaths[0] if isinstance(deaths, list) and deaths else None
        death: dict[str, Any] = first if isinstance(first, dict) else {}
        why = str(headers.get("x-first-death-reason") or death.get("reason") or "unknown")
        reason = {
            "delivery_limit": "returned by consumers that stopped while holding it (crashed "
            "or lost their connection) more times than the queue's delivery limit",
            "rejected": "rejected by a consumer",
        }.get(why, why)
        attempts = headers.get("x-delivery-count")
        when = _datetime(death.get("time"))
    return DeadLetter(
        group=group,
        event_id=dead_letter_id(message),
        type=message.type or _str(envelope.get("type")),
        source=_str(envelope.get("source")),
        subject=_str(envelope.get("subject")),
        time=_datetime(envelope.get("time")),
        reason=str(reason),
        attempts=int(attempts)
        if isinstance(attempts, int | str) and str(attempts).isdigit()
        else None,
        dead_lettered_at=when,
        size_bytes=len(message.body),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value)
    return None
