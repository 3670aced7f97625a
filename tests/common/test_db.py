"""The request-scoped transaction: committed before the reply, so a failed commit is never
reported as success."""

import uuid
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from govhub_common.db import Database, SessionDep, raw_connection
from govhub_common.problems import install_problem_handlers


async def test_a_commit_that_fails_is_not_reported_as_success(db_url: str) -> None:
    table = f"public.deferred_{uuid.uuid4().hex[:8]}"
    db = Database(db_url, pool_size=2)
    async with db.session() as session:
        await session.execute(
            sa.text(f"CREATE TABLE {table} (code text UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
    app = FastAPI()
    app.state.runtime = SimpleNamespace(db=db)
    install_problem_handlers(app)

    @app.post("/codes/{code}")
    async def add(code: str, session: SessionDep) -> dict[str, str]:
        # Two equal rows: the deferred unique check fails only at COMMIT.
        await session.execute(sa.text(f"INSERT INTO {table} VALUES (:c), (:c)"), {"c": code})
        return {"status": "created"}

    @app.post("/ok/{code}")
    async def ok(code: str, session: SessionDep) -> dict[str, str]:
        await session.execute(sa.text(f"INSERT INTO {table} VALUES (:c)"), {"c": code})
        return {"status": "created"}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            failed = await client.post("/codes/x")
            assert failed.status_code == 500
            assert failed.headers["content-type"] == "application/problem+json"
            assert (await client.post("/ok/y")).status_code == 200
        async with db.session() as session:
            rows = (await session.execute(sa.text(f"SELECT code FROM {table}"))).scalars().all()
        assert rows == ["y"]
    finally:
        async with db.session() as session:
            await session.execute(sa.text(f"DROP TABLE {table}"))
        await db.close()


async def test_a_bulk_write_on_the_driver_is_part_of_the_session_transaction(db_url: str) -> None:
    # The first statement of the session goes straight to asyncpg (as bulk paths do): it
    # must still roll back with the session.
    table = f"public.raw_{uuid.uuid4().hex[:8]}"
    db = Database(db_url, pool_size=2)
    try:
        async with db.session() as session:
            await session.execute(sa.text(f"CREATE TABLE {table} (n int)"))
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                raw = await raw_connection(session)
                await raw.copy_records_to_table(
                    table.split(".")[1], schema_name="public", records=[(1,), (2,)]
                )
                raise RuntimeError("the rest of the work failed")
        async with db.session() as session:
            raw = await raw_connection(session)
            assert await raw.fetchval(f"SELECT count(*) FROM {table}") == 0
            await session.execute(sa.text(f"DROP TABLE {table}"))
    finally:
        await db.close()


async def test_a_pooled_connection_lost_while_idle_is_replaced_unnoticed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a database restart: the server ends a connection resting in the pool. The
    # next session must get a working connection, not the dead one.
    import govhub_common.db as db_module

    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    db = Database(db_url, pool_size=1)
    try:
        async with db.session() as session:
            first = (await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.session() as session:
            same = (await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        assert same == first  # the pool reuses its connection
        admin = Database(db_url, pool_size=1)
        try:
            async with admin.session() as session:
                ended = await session.execute(
                    sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first}
                )
                assert ended.scalar_one() is True
        finally:
            await admin.close()
        async with db.session() as session:
            replacement = (await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        assert replacement != first
    finally:
        await db.close()
