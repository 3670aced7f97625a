"""One replica per service exports the gauges read from the shared database.

Every replica of a service reads the same figures from PostgreSQL (open warnings, lag,
outbox backlog ...). Exported by every replica, a `sum` over them would read N times too
high. So each process competes for a lease per service, a PostgreSQL advisory lock held on
a dedicated connection: only the holder exports that service's database gauges (the other
replicas keep refreshing them, so a new holder never exports stale figures, but leave them
out of /metrics). The lock dies with its connection, so a replica that crashes or loses the
database hands the lease over within one check interval. `govhub_database_gauges_exporter`
says which replica exports (1) and which does not (0). See docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Iterable

import asyncpg

from govhub_common.db import asyncpg_dsn
from govhub_common.metrics import DATABASE_GAUGES_EXPORTER, held_leases

log = logging.getLogger("govhub.gauge_lease")

# pg_try_advisory_lock(classid, objid): the class keeps govhub's locks apart from any
# other advisory lock of the database; the object is the service.
LOCK_CLASS = 0x60B0  # "govhub gauges"


def lock_key(service: str) -> int:
    """A stable int4 per service name (zlib.crc32, folded into the signed range)."""
    value = zlib.crc32(service.encode("utf-8"))
    return value - (1 << 32) if value >= (1 << 31) else value


class GaugeLease:
    """The leases of this process's services, kept on one dedicated connection."""

    def __init__(
        self, database_url: str, services: Iterable[str], *, check_seconds: float = 5.0
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.services = list(services)
        self.check_seconds = check_seconds
        self._conn: asyncpg.Connection | None = None
        self._held: set[str] = set()
        for service in self.services:
            DATABASE_GAUGES_EXPORTER.labels(service).set(0)

    def held(self, service: str) -> bool:
        return service in self._held

    async def check(self) -> None:
        """Take the leases that are free; notice a lost connection (and so lost leases)."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._release_all()
                self._conn = await asyncpg.connect(self.dsn, timeout=self.check_seconds)
            for service in self.services:
                if service in self._held:
                    continue
                got = await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    LOCK_CLASS,
                    lock_key(service),
                    timeout=self.check_seconds,
                )
                if got:
                    self._acquire(service)
            if self._held:
                # Still connected, so still holding: the lock lives as long as the session.
                await self._conn.fetchval("SELECT 1", timeout=self.check_seconds)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if self._held:
                log.warning("database gauge lease lost (%s): not exporting them", exc)
            self._release_all()
            await self._drop_connection()

    async def run(self) -> None:
        """Until cancelled: check every check_seconds."""
        while True:
            await asyncio.sleep(self.check_seconds)
            await self.check()

    async def close(self) -> None:
        self._release_all()
        await self._drop_connection()
        for service in self.services:
            with contextlib.suppress(KeyError):
                DATABASE_GAUGES_EXPORTER.remove(service)

    def _acquire(self, service: str) -> None:
        self._held.add(service)
        held_leases[service] += 1
        DATABASE_GAUGES_EXPORTER.labels(service).set(1)
        log.info("this replica exports the database gauges of %s", service)

    def _release_all(self) -> None:
        for service in self._held:
            held_leases[service] -= 1
            DATABASE_GAUGES_EXPORTER.labels(service).set(0)
        self._held.clear()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            # Closing the session releases its advisory locks at once.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=self.check_seconds)
            if not conn.is_closed():
                conn.terminate()
