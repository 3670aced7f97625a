from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from govhub_common.events import CloudEvent, StoredEvent

EventHandler = Callable[[CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A consumer group: one durable queue bound to routing-key patterns.

    `handler` runs once per delivery; raising makes the event tried again, up to the
    delivery limit, after which it goes to the group's dead-letter queue with the reason.
    Handlers wait out transient faults themselves (outbox.idempotent): what reaches the bus
    failed for the event's own sake.
    """

    group: str
    patterns: Sequence[str]
    handler: EventHandler


@dataclass(frozen=True)
class DeadLetter:
    """An event parked in a consumer group's dead-letter queue, with why it got there."""

    group: str
    event_id: str
    type: str | None
    source: str | None
    subject: str | None
    time: datetime | None
    reason: str
    attempts: int | None
    dead_lettered_at: datetime | None
    size_bytes: int


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, events: Sequence[CloudEvent | StoredEvent]) -> None:
        """Returns once the broker confirmed every event; raises otherwise."""
        ...

    async def subscribe(self, subscription: Subscription) -> None: ...

    async def retire(self, group: str) -> None:
        """Remove a consumer group a service no longer has, with whatever it still holds
        (a durable queue left bound would fill up forever)."""
        ...

    async def ping(self) -> None: ...

    @property
    def connected(self) -> bool:
        """Whether events can reach the broker now (cheap: read at every scrape)."""
        ...

    async def backlog(self, group: str) -> int:
        """Events waiting in the group's queue, not yet handed to a consumer."""
        ...

    async def dead_letters(self, group: str, *, limit: int = 100) -> list[DeadLetter]:
        """Events parked in the group's dead-letter queue, oldest first (at most limit)."""
        ...

    async def dead_letter_count(self, group: str) -> int:
        """How many events the group's dead-letter queue holds."""
        ...

    async def redrive(self, group: str, event_ids: Collection[str] | None = None) -> int:
        """Give dead-lettered events (those ids, or all) to the group's consumers again;
        returns how many. Consumers are idempotent: one already applied has no effect."""
        ...
