"""Alembic runner: each service keeps its own migrations and version table in its own schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from govhub_common.db import async_url


def alembic_config(migrations_dir: Path, url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def run_env(context: Any, metadata: MetaData | None) -> None:
    """Called from each service's migrations/env.py with `alembic.context` (a module proxy
    of the EnvironmentContext): online migrations in the service schema."""
    cfg = context.config
    schema: str = cfg.attributes["schema"]
    url = cfg.get_main_option("sqlalchemy.url")
    assert url

    def do_run(connection: Connection) -> None:
        # Replicas, workers and services migrating at once (split mode starts four
        # processes): one at a time, since some objects are shared (CREATE EXTENSION
        # pg_trgm) and even CREATE SCHEMA IF NOT EXISTS races. The lock is taken first, in
        # the transaction that does everything else, and ends with it.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('govhub-migrations'))"))
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table="alembic_version",
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, parent: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, hide_parameters=True)  # no values in errors
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
            await conn.commit()
        await engine.dispose()

    connection: Any = cfg.attributes.get("connection")
    if connection is not None:
        do_run(connection)
    else:
        asyncio.run(run_async())


def upgrade(migrations_dir: Path, url: str, schema: str, revision: str = "head") -> None:
    """Synchronous: Alembic's env runs its own event loop, so call this from a worker thread."""
    command.upgrade(alembic_config(migrations_dir, url, schema), revision)


async def upgrade_async(migrations_dir: Path, url: str, schema: str) -> None:
    await asyncio.to_thread(upgrade, migrations_dir, url, schema)
