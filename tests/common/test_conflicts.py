"""Work that met another transaction (a deadlock, a serialization failure, a lock it could
not get) is run again (govhub_common.faults.run_again_on_conflict): the alerting sweep's
batches, which two sweeps at once or a sweep beside ingest can deadlock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from govhub_common.faults import run_again_on_conflict


@pytest.fixture
async def locked_row(db_url: str) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A table with one row, and a connection holding that row locked in a transaction."""
    table = f"public.conflict_{uuid.uuid4().hex[:8]}"
    holder = await asyncpg.connect(db_url)
    await holder.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    await holder.execute(f"INSERT INTO {table} VALUES (1, 'kept')")
    await holder.execute("BEGIN")
    await holder.execute(f"SELECT 1 FROM {table} WHERE id = 1 FOR UPDATE")
    try:
        yield table, holder
    finally:
        if holder.is_in_transaction():
            await holder.execute("ROLLBACK")
        await holder.execute(f"DROP TABLE {table}")
        await holder.close()


@pytest.fixture
async def worker(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The connection the work runs on."""
    connection = await asyncpg.connect(db_url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_work_that_met_a_held_lock_is_run_again_once_it_is_released(
    locked_row: tuple[str, asyncpg.Connection], worker: asyncpg.Connection
) -> None:
    table, holder = locked_row
    attempts = 0
    failed_once = asyncio.Event()

    async def work() -> str:
        nonlocal attempts
        attempts += 1
        try:
            async with worker.transaction():
                row = await worker.fetchrow(f"SELECT v FROM {table} WHERE id = 1 FOR UPDATE NOWAIT")
                return str(row["v"])
        finally:
            failed_once.set()

    async def release() -> None:
        await failed_once.wait()
        await holder.execute("ROLLBACK")

    result, _ = await asyncio.gather(run_again_on_conflict(work, what="test"), release())
    assert result == "kept"
    assert attempts >= 2  # the first met the held lock


async def test_a_conflict_that_lasts_is_raised_after_the_attempts(
    locked_row: tuple[str, asyncpg.Connection], worker: asyncpg.Connection
) -> None:
    table, _ = locked_row
    attempts = 0

    async def work() -> None:
        nonlocal attempts
        attempts += 1
        await worker.execute(f"SELECT 1 FROM {table} WHERE id = 1 FOR UPDATE NOWAIT")

    with pytest.raises(asyncpg.LockNotAvailableError):
        await run_again_on_conflict(work, what="test", attempts=3)
    assert attempts == 3


async def test_other_failures_are_raised_at_once(worker: asyncpg.Connection) -> None:
    attempts = 0

    async def work() -> None:
        nonlocal attempts
        attempts += 1
        await worker.execute("SELECT 1 / 0")

    with pytest.raises(asyncpg.DivisionByZeroError):
        await run_again_on_conflict(work, what="test")
    assert attempts == 1
