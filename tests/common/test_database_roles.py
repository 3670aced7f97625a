"""The hub never serves as a superuser: a superuser URL (embedded, development, CI) only
migrates and keeps the application's role, which cannot touch the audit log's history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from govhub_common.db import asyncpg_dsn
from govhub_common.roles import PASSWORD_FILE, DatabaseRoleError
from govhub_common.settings import CommonSettings
from govhub_common.testing import Hub, HubProcess, running_hub


async def sessions_of(admin_url: str, database: str) -> list[tuple[str, bool]]:
    """(role, is superuser) of every connection to a database but the asking one."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        rows = await conn.fetch(
            "SELECT a.usename, r.rolsuper FROM pg_stat_activity a "
            "JOIN pg_roles r ON r.rolname = a.usename "
            "WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return [(row["usename"], row["rolsuper"]) for row in rows]


async def test_the_hubs_own_connections_are_not_a_superuser(hub: Hub, db_url: str) -> None:
    reply = await hub.client.get("/readyz")  # the pool has connected
    assert reply.status_code == 200
    seen = await sessions_of(db_url, str(make_url(db_url).database))
    assert seen, "the hub holds no connection"
    assert all(not superuser for _role, superuser in seen), seen
    assert {role for role, _ in seen} == {"govhub_app"}
    password = Path(hub.runtime.settings.home) / PASSWORD_FILE
    assert password.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE exchange.audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE exchange.audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_update_delete",
        "SET session_replication_role = replica",
        "UPDATE exchange.audit_log SET actor = 'someone' WHERE id = 1",
        "DELETE FROM exchange.audit_log",
        "TRUNCATE exchange.audit_log",
        "DELETE FROM exchange.audit_checkpoints",
        "UPDATE exchange.audit_checkpoints SET hash = 'x'",
        "DROP TABLE exchange.audit_log",
        "CREATE ROLE someone SUPERUSER",
    ],
)
async def test_the_application_role_cannot_rewrite_or_unguard_the_audit_log(
    hub: Hub, statement: str
) -> None:
    await hub.client.post(
        "/exchange/v1/agencies", json={"code": "t-roles", "name": "x"}, headers=hub.operator()
    )
    with pytest.raises(sa.exc.DBAPIError) as refused:
        async with hub.runtime.db.session() as session:
            await session.execute(sa.text(statement))
    refusals = ("permission denied", "must be owner", "must be superuser")
    assert any(words in str(refused.value) for words in refusals), refused.value
    async with hub.runtime.db.session() as session:
        whoami = await session.execute(
            sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        )
        assert tuple(whoami.one()) == (False, False)


async def test_a_superuser_url_beside_a_migration_url_is_refused(fresh_db_url: str) -> None:
    settings = CommonSettings(database_migration_url=fresh_db_url)
    with pytest.raises(DatabaseRoleError, match="same role"):
        async with running_hub(fresh_db_url, settings=settings):
            pass


async def test_govhub_run_serves_as_the_application_role(fresh_db_url: str) -> None:
    process = HubProcess(fresh_db_url)
    try:
        await process.start()
        seen = await sessions_of(fresh_db_url, str(make_url(fresh_db_url).database))
        assert seen and all(not superuser for _role, superuser in seen), seen
    finally:
        await process.stop()


@dataclass(frozen=True)
class AppRole:
    name: str
    url: str  # GOVHUB_DATABASE_URL as that role
    admin: asyncpg.Connection  # the owner's (superuser's) connection


@pytest.fixture
async def app_role(fresh_db_url: str) -> AsyncIterator[AppRole]:
    """Production's shape: a login role of the application's own beside the schemas' owner."""
    role = f"govhub_test_app_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'app-secret'")
    url = (
        make_url(fresh_db_url)
        .set(username=role, password="app-secret")
        .render_as_string(hide_password=False)
    )
    try:
        yield AppRole(role, url, admin)
    finally:
        await admin.execute(f"DROP OWNED BY {role}")  # its grants: then it can go
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_a_migration_url_migrates_and_grants_the_applications_own_role(
    fresh_db_url: str, app_role: AppRole
) -> None:
    # The schemas' owner migrates, the hub serves as a role of its own.
    settings = CommonSettings(database_migration_url=fresh_db_url)
    async with running_hub(app_role.url, settings=settings) as hub:
        created = await hub.client.post(
            "/exchange/v1/agencies",
            json={"code": "t-prod", "name": "x"},
            headers=hub.operator(),
        )
        assert created.status_code == 201, created.text
        verified = await hub.client.get("/exchange/v1/audit/verify", headers=hub.operator())
        assert verified.json()["valid"] is True
        with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
            async with hub.runtime.db.session() as session:
                await session.execute(sa.text("DELETE FROM exchange.audit_log"))
    owners = await app_role.admin.fetch(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'exchange'"
    )
    assert [row["tableowner"] for row in owners] == ["postgres"]


async def test_a_hub_that_does_not_migrate_holds_only_the_applications_role(
    fresh_db_url: str, app_role: AppRole
) -> None:
    # The chart's shape: a migration job migrated and granted; the pods get no owner's URL.
    # The job: `govhub migrate` with both URLs.
    async with running_hub(
        app_role.url, settings=CommonSettings(database_migration_url=fresh_db_url)
    ):
        pass
    serving = CommonSettings(migrate_on_start=False)
    assert serving.database_migration_url is None
    async with running_hub(app_role.url, settings=serving) as hub:
        created = await hub.client.post(
            "/exchange/v1/agencies",
            json={"code": "t-pods", "name": "x"},
            headers=hub.operator(),
        )
        assert created.status_code == 201, created.text
        async with hub.runtime.db.session() as session:
            whoami = await session.execute(sa.text("SELECT current_user"))
            assert whoami.scalar_one() == app_role.name
    with pytest.raises(DatabaseRoleError, match="GOVHUB_MIGRATE_ON_START"):
        async with running_hub(fresh_db_url, settings=serving):
            pass
