"""In-process transport: the all-in-one default when no broker is configured.

publish() returns only after every matching group has handled (or dead-lettered) the
event, so the outbox row stays unsent until its effects are committed: a crash loses
nothing, it only republishes, and the consumers' inboxes drop the repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence

from govhub_common.bus.base import DeadLetter, Subscription
from govhub_common.clock import utcnow
from govhub_common.events import CloudEvent, StoredEvent, routing_matches
from govhub_common.logs import mask_text
from govhub_common.metrics import DEAD_LETTER_QUEUE_MESSAGES, DEAD_LETTERS

log = logging.getLogger("govhub.bus")


class InProcessBus:
    def __init__(
        self, *, delivery_limit: int = 5, retry_delay: float = 0.05, service: str = "govhub"
    ) -> None:
        self.delivery_limit = delivery_limit
        self.retry_delay = retry_delay
        self.service = service
        self._subscriptions: list[Subscription] = []
        self._dead: dict[str, list[tuple[CloudEvent, DeadLetter]]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscriptions.clear()

    async def ping(self) -> None:
        return None

    @property
    def connected(self) -> bool:
        return True

    async def subscribe(self, subscription: Subscription) -> None:
        self._subscriptions.append(subscription)
        DEAD_LETTERS.labels(self.service, subscription.group)  # a series at 0
        DEAD_LETTER_QUEUE_MESSAGES.labels(self.service, subscription.group).set(0)

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
            except Exception as exc:
                log.exception(
                    "consumer %s failed on event %s (attempt %d of %d)",
                    subscription.group,
                    event.id,
                    attempt,
                    attempts,
                )
                if attempt == attempts:
                    self._park(subscription.group, event, f"{type(exc).__name__}: {exc}", attempt)
                    return
                await asyncio.sleep(self.retry_delay * attempt)

    def _park(self, group: str, event: CloudEvent, reason: str, attempts: int) -> None:
        letter = DeadLetter(
            group=group,
            event_id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            time=event.time,
            reason=mask_text(reason)[:1000],
            attempts=attempts,
            dead_lettered_at=utcnow(),
            size_bytes=len(event.to_json()),
        )
        parked = self._dead.setdefault(group, [])
        parked.append((event, letter))
        DEAD_LETTERS.labels(self.service, group).inc()
        DEAD_LETTER_QUEUE_MESSAGES.labels(self.service, group).set(len(parked))
        log.error("event %s dead-lettered for %s: %s", event.id, group, reason)

    async def retire(self, group: str) -> None:
        self._dead.pop(group, None)  # nothing else outlives the process

    async def backlog(self, group: str) -> int:
        return 0  # publish() returns only once every consumer has handled the event

    async def dead_letters(self, group: str, *, limit: int = 100) -> list[DeadLetter]:
        return [letter for _, letter in self._dead.get(group, [])[:limit]]

    async def dead_letter_count(self, group: str) -> int:
        return len(self._dead.get(group, []))

    async def redrive(self, group: str, event_ids: Collection[str] | None = None) -> int:
        parked = self._dead.get(group, [])
        chosen = [e for e, _ in parked if event_ids is None or e.id in event_ids]
        taken = {e.id for e in chosen}
        self._dead[group] = [(e, d) for e, d in parked if e.id not in taken]
        DEAD_LETTER_QUEUE_MESSAGES.labels(self.service, group).set(len(self._dead[group]))
        targets = [s for s in self._subscriptions if s.group == group]
        for event in chosen:
            await asyncio.gather(*(self._deliver(s, event) for s in targets))
        return len(chosen)
