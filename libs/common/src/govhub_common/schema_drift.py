"""Tables as models, and the test that keeps them true: each service declares its tables once,
as SQLModel models (`<domain>/models.py`, gathered by the service's `tables.py`), and its
drift test compares them with a database its migrations built, with Alembic's autogenerate
comparison. A migration that changes a table without the model (or the reverse) fails it.

Migrations stay hand-written (they carry data changes, functions and frozen copies); the
models say what the migrations arrive at."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from govhub_common.db import async_url
from govhub_common.outbox import inbox_table, outbox_table
from govhub_common.revocation import revocations_table


def runtime_tables(metadata: sa.MetaData, schema: str) -> None:
    """The tables the runtime keeps in every service's schema: the outbox, the inbox and the
    token revocations (govhub_common.outbox, govhub_common.revocation)."""
    for factory in (outbox_table, inbox_table, revocations_table):
        if f"{schema}.{factory.__name__.removesuffix('_table')}" not in metadata.tables:
            factory(metadata, schema)


async def schema_drift(database_url: str, metadata: sa.MetaData, schema: str) -> list[Any]:
    """What Alembic's autogenerate would change to make `schema` of the migrated database
    match the models of `metadata` in that schema, then what PostgreSQL's own catalogue says
    differs between that schema and one the models create beside it (index definitions with
    their WHERE clauses, methods and operator classes, CHECK and other constraints, column
    defaults, identity and generated columns: what autogenerate does not compare): [] when
    they agree."""
    diffs = await _autogenerate_diffs(database_url, metadata, schema)
    if not diffs:
        diffs = await _catalogue_diffs(database_url, metadata, schema)
    return diffs


async def _autogenerate_diffs(database_url: str, metadata: sa.MetaData, schema: str) -> list[Any]:

    def in_schema(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "schema":
            return name == schema
        if type_ == "table":
            return parent_names.get("schema_name") == schema and name != "alembic_version"
        return True

    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": in_schema,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        own = sa.MetaData()
        for table in metadata.tables.values():
            if table.schema == schema:
                table.to_metadata(own)
        return list(compare_metadata(context, own))

    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


# PostgreSQL's own words for a schema's indexes, constraints and table columns (but
# Alembic's own table), the schema's name left out so that two schemas compare. Views, like
# functions, are the migrations' alone: they are queries over the modelled tables.
_CATALOGUE = """
SELECT 'index ' || tablename || ': ' || replace(indexdef, quote_ident($1) || '.', '')
FROM pg_indexes WHERE schemaname = $1 AND tablename <> 'alembic_version'
UNION ALL
SELECT 'constraint ' || c.relname || '.' || k.conname || ': '
    || replace(pg_get_constraintdef(k.oid), quote_ident($1) || '.', '')
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE k.connamespace = to_regnamespace($1) AND c.relname <> 'alembic_version'
UNION ALL
SELECT 'column ' || table_name || '.' || column_name || ': '
    || concat_ws(' ', udt_name, is_nullable, replace(column_default, quote_ident($1) || '.', ''),
                 is_identity, identity_generation, generation_expression)
FROM information_schema.columns WHERE table_schema = $1 AND table_name <> 'alembic_version'
    AND table_name NOT IN (SELECT table_name FROM information_schema.views
                           WHERE table_schema = $1)
"""


async def _catalogue_diffs(database_url: str, metadata: sa.MetaData, schema: str) -> list[Any]:
    """The catalogue lines only one of the migrated schema and a copy the models create
    (in a scratch schema of the same database, dropped afterwards) has."""
    import asyncpg

    from govhub_common.db import asyncpg_dsn

    scratch = f"{schema}_models_{uuid.uuid4().hex[:8]}"
    copy = sa.MetaData()
    for table in metadata.tables.values():
        if table.schema == schema:
            table.to_metadata(
                copy, schema=scratch, referred_schema_fn=_same_schema(schema, scratch)
            )
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{scratch}"'))
            await connection.run_sync(copy.create_all)
        connection_ = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            migrated = set(
                await connection_.fetchval(f"SELECT array_agg(x) FROM ({_CATALOGUE}) q(x)", schema)
                or []
            )
            modelled = set(
                await connection_.fetchval(f"SELECT array_agg(x) FROM ({_CATALOGUE}) q(x)", scratch)
                or []
            )
        finally:
            await connection_.close()
    finally:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE'))
        await engine.dispose()
    return [("only_migrated", line) for line in sorted(migrated - modelled)] + [
        ("only_modelled", line) for line in sorted(modelled - migrated)
    ]


def _same_schema(schema: str, scratch: str) -> Any:
    def referred(
        table: sa.Table, to_schema: str | None, constraint: Any, referred: str | None
    ) -> str | None:
        return scratch if referred == schema else referred

    return referred
