"""In-process transport: the all-in-one default when no broker is configured.

publish() returns only after every matching group has handled (or dead-lettered) the
event, so the outbox row stays unsent until its effects are committed: a crash loses
nothing, it only republishes, and the consumers' inboxes drop the repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from govhub_common.bus.base import Subscription
from govhub_common.events import CloudEvent, StoredEvent, routing_matches
from govhub_common.metrics import DEAD_LETTERS

log = logging.getLogger("govhub.bus")


class InProcessBus:
    def __init__(
        self, *, delivery_limit: int = 5, retry_delay: float = 0.05, service: str = "govhub"
    ) -> None:
        self.delivery_limit = delivery_limit
        self.retry_delay = retry_delay
        self.service = service
        self._subscriptions: list[Subscription] = []
        self._dead: dict[str, list[CloudEvent]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscriptions.clear()

    async def ping(self) -> None:
        return None

    async def subscribe(self, subscription: Subscription) -> None:
        self._subscriptions.append(subscription)

    async def publish(self, events: Sequence[CloudEvent | StoredEvent]) -> None:
        for item in events:
            targets = [
                s
                for s in self._subscriptions
                if any(routing_matches(p, item.routing_key) for p in s.patterns)
            ]
            if not targets:
                continue  # as a broker drops what no queue is bound to, unparsed
            event = item.parse() if isinstance(item, StoredEvent) else item
            await asyncio.gather(*(self._deliver(s, event) for s in targets))

    async def _deliver(self, subscription: Subscription, event: CloudEvent) -> None:
        # As with a quorum queue: the first delivery plus `delivery_limit` redeliveries.
        attempts = self.delivery_limit + 1
        for attempt in range(1, attempts + 1):
            try:
                await subscription.handler(event)
                return
            except Exception:
                log.exception(
                    "consumer %s failed on event %s (attempt %d of %d)",
                    subscription.group,
                    event.id,
                    attempt,
                    attempts,
                )
                await asyncio.sleep(self.retry_delay * attempt)
        self._dead.setdefault(subscription.group, []).append(event)
        DEAD_LETTERS.labels(self.service, subscription.group).inc()
        log.error("event %s dead-lettered for %s", event.id, subscription.group)

    async def retire(self, group: str) -> None:
        self._dead.pop(group, None)  # nothing else outlives the process

    async def backlog(self, group: str) -> int:
        return 0  # publish() returns only once every consumer has handled the event

    async def dead_letters(self, group: str) -> list[CloudEvent]:
        return list(self._dead.get(group, []))
