"""The drift check every service's tables test relies on (govhub_common.schema_drift): a model
that says what the migrated table is passes; a column, a type, a nullability or an index
the two disagree on is reported."""

from __future__ import annotations

import asyncpg
import sqlalchemy as sa

from govhub_common.db import asyncpg_dsn
from govhub_common.schema_drift import runtime_tables, schema_drift

MIGRATED = """
CREATE SCHEMA drift;
CREATE TABLE drift.cases (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject text NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    note text
);
CREATE INDEX cases_subject ON drift.cases (subject);
"""


def model(*, note: sa.types.TypeEngine | None = sa.Text(), subject_nullable: bool = False,
          extra: bool = False, index: bool = True) -> sa.MetaData:  # fmt: skip
    metadata = sa.MetaData()
    columns: list[sa.Column] = [
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("subject", sa.Text, nullable=subject_nullable),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]
    if note is not None:
        columns.append(sa.Column("note", note))
    if extra:
        columns.append(sa.Column("closed_at", sa.DateTime(timezone=True)))
    table = sa.Table("cases", metadata, *columns, schema="drift")
    if index:
        sa.Index("cases_subject", table.c.subject)
    return metadata


async def test_drift_is_reported_and_agreement_is_not(fresh_db_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    try:
        await connection.execute(MIGRATED)
    finally:
        await connection.close()

    assert await schema_drift(fresh_db_url, model(), "drift") == []

    def kinds(diffs: list) -> set[str]:
        flat = [d for diff in diffs for d in (diff if isinstance(diff, list) else [diff])]
        return {d[0] for d in flat}

    assert kinds(await schema_drift(fresh_db_url, model(extra=True), "drift")) == {"add_column"}
    assert kinds(await schema_drift(fresh_db_url, model(note=None), "drift")) == {"remove_column"}
    assert kinds(await schema_drift(fresh_db_url, model(note=sa.Integer()), "drift")) == {
        "modify_type"
    }
    assert kinds(await schema_drift(fresh_db_url, model(subject_nullable=True), "drift")) == {
        "modify_nullable"
    }
    assert kinds(await schema_drift(fresh_db_url, model(index=False), "drift")) == {"remove_index"}


async def test_the_runtime_tables_are_what_a_service_migration_makes(fresh_db_url: str) -> None:
    """outbox, inbox and token_revocations, as the sms gateway's migrations leave them."""
    from govhub_common.migrations import upgrade_async
    from govhub_sms.app import SERVICE

    await upgrade_async(SERVICE.migrations, fresh_db_url, SERVICE.schema)
    metadata = sa.MetaData()
    runtime_tables(metadata, "sms")
    diffs = await schema_drift(fresh_db_url, metadata, "sms")
    # Only the sms gateway's own tables (and their indexes), which this metadata leaves out.
    tables = {d[1].name for d in diffs if d[0] == "remove_table"}
    assert tables == {"templates", "messages", "message_history", "delivery_reports", "opt_outs"}
    assert {d[1].table.name for d in diffs if d[0] == "remove_index"} <= tables
    assert {d[0] for d in diffs} == {"remove_table", "remove_index"}


async def test_what_autogenerate_misses_is_caught_by_the_catalogue(fresh_db_url: str) -> None:
    """A partial index's condition, an index method and a CHECK constraint: Alembic's
    autogenerate compares none of them; PostgreSQL's catalogue does."""
    connection = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    try:
        await connection.execute(
            "CREATE SCHEMA drift2; CREATE TABLE drift2.cases (id bigint PRIMARY KEY, "
            "status text NOT NULL CHECK (status IN ('open', 'closed')), subject text); "
            "CREATE INDEX cases_open ON drift2.cases (subject) WHERE status = 'open'; "
            "CREATE INDEX cases_subject_hash ON drift2.cases USING hash (subject)"
        )
    finally:
        await connection.close()

    def cases(*, where: str = "status = 'open'", method: str = "hash", check: str = "'open', 'closed'") -> sa.MetaData:  # fmt: skip
        metadata = sa.MetaData()
        table = sa.Table(
            "cases",
            metadata,
            sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("subject", sa.Text),
            sa.CheckConstraint(f"status IN ({check})", name="cases_status_check"),
            schema="drift2",
        )
        sa.Index("cases_open", table.c.subject, postgresql_where=sa.text(where))
        sa.Index("cases_subject_hash", table.c.subject, postgresql_using=method)
        return metadata

    assert await schema_drift(fresh_db_url, cases(), "drift2") == []
    for changed in (
        cases(where="status = 'closed'"),
        cases(method="btree"),
        cases(check="'open', 'closed', 'void'"),
    ):
        diffs = await schema_drift(fresh_db_url, changed, "drift2")
        assert {kind for kind, _ in diffs} == {"only_migrated", "only_modelled"}, diffs
