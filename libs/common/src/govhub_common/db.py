"""Async database access: one engine per process, one session per request or handler."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("govhub.db")

# A pooled connection idle longer than this is pinged before use (a database restart
# meanwhile would otherwise fail the request that gets it). Pinging every checkout, as
# SQLAlchemy's pool_pre_ping does, cost three round trips per session on the hot paths.
PING_AFTER_IDLE_SECONDS = 1.0


def async_url(url: str) -> str:
    """Any PostgreSQL URL -> the SQLAlchemy asyncpg form (libpq's `sslmode` becomes the
    `ssl` argument asyncpg takes)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return parsed.set(drivername="postgresql+asyncpg", query=query).render_as_string(
        hide_password=False
    )


def asyncpg_dsn(url: str) -> str:
    """Any PostgreSQL URL -> the plain form asyncpg.connect() takes."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def escape_like(value: str) -> str:
    """`value` as a literal inside a LIKE / ILIKE pattern: its `\\`, `%` and `_` escaped with
    a backslash (PostgreSQL's default escape character; say `ESCAPE '\\'` beside the pattern
    anyway). Without this a caller's `%%` or `__` matches every row."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(value: str) -> str:
    """A LIKE / ILIKE pattern matching text that contains `value` literally."""
    return f"%{escape_like(value)}%"


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            echo=echo,
            # A failed statement's error text (logged, dead-lettered) names its SQL but not
            # the bound values: they are residents' data (logs.mask_text drops them too).
            hide_parameters=True,
            # No JIT compilation: the hub's statements are short, and PostgreSQL judges by
            # estimated cost, which a statement over a log of hundreds of segments passes
            # easily. A gauge query that ran in 0.05 ms spent 8.8 s compiling 1,942
            # functions, every 5 seconds (docs/exchange.md, "A read's plan").
            connect_args={"server_settings": {"jit": "off"}},
        )
        _ping_idle_connections(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A transaction: committed when the block ends normally, rolled back otherwise."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled asyncpg connection outside any transaction: each statement commits on
        its own, so a lock a statement takes is released at its end, not a round trip
        (and a turn of the event loop) later."""
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            yield raw.driver_connection

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _ping_idle_connections(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards this connection and checks out another (or a new one).
            raise exc.DisconnectionError(str(error)) from error


async def raw_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under a session, for COPY and unnest on bulk paths.

    It shares the session's transaction, so bulk writes commit with everything else.
    """
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement: a
    # raw statement coming first would run outside the transaction (and commit alone).
    if getattr(adapter, "_transaction", False) is None and adapter.isolation_level != "autocommit":
        await adapter._start_transaction()
    return raw.driver_connection


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.runtime.db
    async with db.session() as session:
        yield session


# scope="function": commit before the response is sent, so a client is never told "done"
# about a write that then fails to commit (FastAPI's default ends yield-dependencies after
# the response).
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def listen_forever(url: str, channel: str, on_notify: Callable[[str], None]) -> None:
    """Call on_notify(payload) for each NOTIFY on a channel, from any process, until
    cancelled; a lost connection is opened again (notifications sent meanwhile are lost:
    listeners pair this with polling)."""
    import asyncpg

    while True:
        try:
            conn = await asyncpg.connect(asyncpg_dsn(url))
            lost = asyncio.Event()
            conn.add_termination_listener(lambda *_, lost=lost: lost.set())
            try:
                await conn.add_listener(channel, lambda *args: on_notify(str(args[3])))
                await lost.wait()
            finally:
                await conn.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("listener on %s lost its connection (%s)", channel, exc)
            await asyncio.sleep(1.0)
