"""Wakes long-polling feed readers when a topic gets new records."""

from __future__ import annotations

import asyncio

from govhub_common.db import listen_forever
from govhub_common.runtime import ServiceContext

# NOTIFY channel of a publish's commit; the payload is the topic code.
RECORDS_CHANNEL = "govhub_exchange_records"


class TopicNotifier:
    """One event per topic, replaced at each notification, so a waiter that took the event
    before querying cannot miss a publish that commits after its query."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def current(self, topic: str) -> asyncio.Event:
        event = self._events.get(topic)
        if event is None:
            event = self._events[topic] = asyncio.Event()
        return event

    def watched(self, topic: str) -> bool:
        """Whether someone waits (or is about to) on this topic."""
        return topic in self._events

    def notify(self, topic: str) -> None:
        event = self._events.pop(topic, None)
        if event is not None:
            event.set()


def wake_webhooks(ctx: ServiceContext) -> None:
    """Start this replica's webhook worker on a round now rather than at its next poll."""
    from govhub_exchange.state import exchange_state

    exchange_state(ctx).webhook_wake.set()


def records_committed(ctx: ServiceContext, topic: str) -> None:
    """Wake this replica's long-polls on the topic and its webhook worker."""
    from govhub_exchange.state import exchange_state

    exchange_state(ctx).notifier.notify(topic)
    wake_webhooks(ctx)


async def wake_on_publish(ctx: ServiceContext) -> None:
    """Wake this replica when any replica commits records (PostgreSQL NOTIFY reaches every
    listener; a consumer group would reach one replica)."""
    await listen_forever(ctx.db.url, RECORDS_CHANNEL, lambda topic: records_committed(ctx, topic))
