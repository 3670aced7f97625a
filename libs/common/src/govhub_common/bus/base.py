from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from govhub_common.events import CloudEvent, StoredEvent

EventHandler = Callable[[CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A consumer group: one durable queue bound to routing-key patterns.

    `handler` runs once per delivery; raising makes the event redelivered, up to the
    delivery limit, after which it goes to the group's dead-letter queue.
    """

    group: str
    patterns: Sequence[str]
    handler: EventHandler


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

    async def backlog(self, group: str) -> int:
        """Events waiting in the group's queue, not yet handed to a consumer."""
        ...

    async def dead_letters(self, group: str) -> list[CloudEvent]:
        """Events parked in the group's dead-letter queue (for operators and tests)."""
        ...
