"""The exchange's models (govhub_exchange.tables) say what its migrations build: Alembic's
autogenerate and PostgreSQL's catalogue find nothing that differs between the two."""

from __future__ import annotations

import asyncpg

from govhub_common.db import asyncpg_dsn
from govhub_common.migrations import upgrade_async
from govhub_common.schema_drift import schema_drift
from govhub_exchange.app import SERVICE
from govhub_exchange.delivery.service import FEED_PAGE_FUNCTION
from govhub_exchange.tables import METADATA, SCHEMA


async def test_the_models_are_what_the_migrations_build(fresh_db_url: str) -> None:
    await upgrade_async(SERVICE.migrations, fresh_db_url, SERVICE.schema)
    diffs = await schema_drift(fresh_db_url, METADATA, SCHEMA)
    assert diffs == [], "\n".join(map(str, diffs))


async def test_the_feed_read_function_is_the_codes(fresh_db_url: str) -> None:
    """exchange.read_feed_page is made by a migration from the text in delivery/service.py:
    a change to that text without a migration that makes the function again would leave
    every hub reading feeds the old way."""
    await upgrade_async(SERVICE.migrations, fresh_db_url, SERVICE.schema)
    conn = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    try:
        made = await conn.fetchval(
            "SELECT prosrc FROM pg_proc WHERE oid = 'exchange.read_feed_page'::regproc"
        )
    finally:
        await conn.close()
    assert made == FEED_PAGE_FUNCTION.split("$fn$")[1]
