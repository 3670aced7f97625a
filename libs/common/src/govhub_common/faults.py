"""Transient faults told apart from failures caused by the input.

A database or broker that is unreachable for a while, a serialisation failure, a deadlock or
a timeout says nothing about the event or request that met it: the same work succeeds once
the fault passes. Consumers wait such faults out instead of spending an event's delivery
limit on them, and the API answers 503 with Retry-After instead of 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Literal, TypeVar

from govhub_common.clock import utcnow
from govhub_common.metrics import CONSUMERS_WAITING_FOR_DATABASE

log = logging.getLogger("govhub.faults")

Fault = Literal["database", "broker"]

# SQLSTATEs that pass by themselves: serialization_failure, deadlock_detected,
# lock_not_available, query_canceled (a statement or lock timeout).
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})
# Those of them where the transaction met another one: it was rolled back whole, and run
# again at once it usually passes (the other has committed or given up by then).
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
# Whole classes: 08 connection exception, 53 insufficient resources (too many connections,
# disk full), 58 system error; 57P01-57P03 are the server shutting down or starting up.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "58", "57P")
# asyncpg says a connection went away with InterfaceError subclasses and messages only.
_CLOSED_CONNECTION_WORDS = ("connection is closed", "connection was closed", "connection lost")
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.ENOTCONN,
    }
)


class BrokerUnavailable(ConnectionError):
    """The broker cannot take or give events now (not connected, or reconnecting)."""


def _network_error(item: BaseException) -> bool:
    if isinstance(item, ConnectionError | TimeoutError | socket.gaierror):
        return True
    # asyncio's connect to several addresses raises a plain OSError("Multiple exceptions: ...").
    return isinstance(item, OSError) and (
        item.errno in _NETWORK_ERRNOS or str(item).startswith("Multiple exceptions")
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (SQLAlchemy's `.orig`) and what caused it."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)
        todo += [
            orig if isinstance(orig, BaseException) else None,
            item.__cause__,
            item.__context__,
        ]


def transient_fault(exc: BaseException) -> Fault | None:
    """Which part of the infrastructure failed, if the failure is one that passes by itself;
    None when the failure is the work's own (a bug, bad input, a constraint)."""
    import aiormq.exceptions
    import asyncpg
    from sqlalchemy import exc as sa_exc

    for item in _chain(exc):
        if isinstance(
            item,
            BrokerUnavailable
            | aiormq.exceptions.AMQPConnectionError
            | aiormq.exceptions.ChannelInvalidStateError,
        ):
            return "broker"
        sqlstate = getattr(item, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
        ):
            return "database"
        if isinstance(item, asyncpg.exceptions.ConnectionDoesNotExistError):
            return "database"
        if isinstance(item, asyncpg.InterfaceError) and any(
            words in str(item) for words in _CLOSED_CONNECTION_WORDS
        ):
            return "database"
        if isinstance(item, sa_exc.DBAPIError) and item.connection_invalidated:
            return "database"
        if isinstance(item, sa_exc.TimeoutError):  # no pooled connection came free in time
            return "database"
        if _network_error(item):
            return "database"
    return None


def met_another_transaction(exc: BaseException) -> bool:
    """Whether the work failed on another transaction: a deadlock, a serialization failure,
    a lock it could not get."""
    return any(getattr(item, "sqlstate", None) in _CONFLICT_SQLSTATES for item in _chain(exc))


_Result = TypeVar("_Result")
CONFLICT_ATTEMPTS = 5


async def run_again_on_conflict(
    work: Callable[[], Awaitable[_Result]], *, what: str, attempts: int = CONFLICT_ATTEMPTS
) -> _Result:
    """Run a unit of work that is one transaction of its own; when it meets another
    transaction (met_another_transaction) run it again, after a short pause growing each
    time, up to `attempts` times in all. Another failure, or the last conflict, is raised.
    Only for work whose transaction holds all its effects: a rolled-back attempt left none."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except Exception as exc:
            if attempt == attempts or not met_another_transaction(exc):
                raise
            log.info(
                "%s met another transaction (%s); attempt %d of %d",
                what,
                exc,
                attempt + 1,
                attempts,
            )
            await asyncio.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


class DatabaseGate:
    """Open while the database answers. A consumer that meets the database unreachable
    closes it; every consumer of the process then waits at the gate, holding its events
    unacknowledged (so they are neither lost nor charged a delivery), while one prober
    pings with backoff and opens the gate when the database answers again."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[None]],
        *,
        service: str,
        first_retry_seconds: float = 0.25,
        max_retry_seconds: float = 5.0,
    ) -> None:
        self._ping = ping
        self.service = service
        self.first_retry_seconds = first_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self._open = asyncio.Event()
        self._open.set()
        self._prober: asyncio.Task[None] | None = None
        self.closed_since: datetime | None = None
        self.reason: str | None = None
        CONSUMERS_WAITING_FOR_DATABASE.labels(service).set(0)

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        await self._open.wait()

    async def reachable(self) -> bool:
        """Ping now; an unreachable database closes the gate."""
        try:
            await self._ping()
            return True
        except Exception as exc:
            if transient_fault(exc) is None:
                raise
            self.close(f"{type(exc).__name__}: {exc}")
            return False

    def close(self, reason: str) -> None:
        if self._open.is_set():
            self._open.clear()
            self.closed_since = utcnow()
            self.reason = reason[:300]
            CONSUMERS_WAITING_FOR_DATABASE.labels(self.service).set(1)
            log.warning(
                "database unreachable (%s): consumers of %s wait, holding their events",
                self.reason,
                self.service,
            )
        if self._prober is None or self._prober.done():
            self._prober = asyncio.create_task(self._probe(), name=f"{self.service}-db-gate")

    async def _probe(self) -> None:
        delay = self.first_retry_seconds
        while not self._open.is_set():
            await asyncio.sleep(delay)
            delay = min(self.max_retry_seconds, delay * 2)
            try:
                await self._ping()
            except Exception as exc:
                log.info("database still unreachable (%s: %s)", type(exc).__name__, exc)
                continue
            log.warning(
                "database reachable again after %.1f s: consumers of %s resume",
                (utcnow() - self.closed_since).total_seconds() if self.closed_since else 0.0,
                self.service,
            )
            self.closed_since = None
            self.reason = None
            CONSUMERS_WAITING_FOR_DATABASE.labels(self.service).set(0)
            self._open.set()

    async def close_prober(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._prober
