"""The application's own database role: the hub never serves requests as a superuser.

A superuser (or the owner of a table) can switch off the audit log's append-only triggers.
So the URL that migrates (GOVHUB_DATABASE_MIGRATION_URL, or GOVHUB_DATABASE_URL when that
is a superuser, as the embedded server's and a developer's or CI's are) creates the tables
and keeps a login role for the application, which gets only what it needs on them and owns
none; the connection pool logs in as that role. See docs/deployment.md, "Database roles".
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from govhub_common.db import asyncpg_dsn
from govhub_common.files import private_directory, write_private
from govhub_common.settings import CommonSettings

log = logging.getLogger("govhub.roles")

PASSWORD_FILE = "database-app-password"
# Every replica and service starts by granting: one at a time per database, like migrations.
_GRANT_LOCK = "SELECT pg_advisory_xact_lock(hashtext('govhub-migrations'))"


class DatabaseRoleError(RuntimeError):
    """The database URLs given cannot keep the application off superuser rights."""


@dataclass(frozen=True)
class Schema:
    """A service's schema and the tables in it the application may only read and append to."""

    name: str
    append_only_tables: Sequence[str] = ()


def migration_url(settings: CommonSettings, database_url: str) -> str:
    """The URL that migrates and grants: its own setting, or the database URL."""
    return settings.database_migration_url or database_url


async def application_url(
    settings: CommonSettings, database_url: str, schemas: Sequence[Schema]
) -> str:
    """The URL the application's pool connects with, after granting its role what it needs.

    - GOVHUB_DATABASE_MIGRATION_URL given: GOVHUB_DATABASE_URL is the application's role
      as is (refused when it is a superuser).
    - Otherwise, GOVHUB_DATABASE_URL a superuser: it keeps the role GOVHUB_DATABASE_APP_ROLE
      (created when missing, its password from GOVHUB_DATABASE_APP_PASSWORD or generated
      under GOVHUB_HOME) and the application connects as that role.
    - Otherwise the configured role does everything, owning the tables: warned about, since
      such a role can switch off the audit log's triggers.
    """
    admin = await asyncpg.connect(asyncpg_dsn(migration_url(settings, database_url)))
    try:
        may_create_roles = await admin.fetchval(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        if settings.database_migration_url:
            app_url = database_url
            role = make_url(app_url).username or ""
            if role == await admin.fetchval("SELECT current_user"):
                raise DatabaseRoleError(
                    "GOVHUB_DATABASE_URL and GOVHUB_DATABASE_MIGRATION_URL name the same role: "
                    "the application would own its tables"
                )
        elif may_create_roles:
            if not settings.is_development:
                log.warning(
                    "GOVHUB_DATABASE_URL is a superuser: the hub serves as %s, but this "
                    "process holds the superuser's credentials; in production migrate with "
                    "GOVHUB_DATABASE_MIGRATION_URL and give GOVHUB_DATABASE_URL the "
                    "application's role (docs/deployment.md, Database roles)",
                    settings.database_app_role,
                )
            role = settings.database_app_role
            password = _password(settings)
            app_url = (
                make_url(database_url)
                .set(username=role, password=password)
                .render_as_string(hide_password=False)
            )
            await _ensure_login_role(admin, role, password, app_url)
        else:
            log.warning(
                "GOVHUB_DATABASE_URL's role owns the hub's tables and can switch off the audit "
                "log's append-only triggers; give the hub GOVHUB_DATABASE_MIGRATION_URL and a "
                "role of its own (docs/deployment.md, Database roles)"
            )
            return database_url
        await _grant(admin, role, schemas)
    finally:
        await admin.close()
    await _refuse_superuser(app_url)
    return app_url


def _password(settings: CommonSettings) -> str:
    """GOVHUB_DATABASE_APP_PASSWORD, or one generated once under GOVHUB_HOME (0600)."""
    if settings.database_app_password is not None:
        return settings.database_app_password.get_secret_value()
    path = Path(settings.home) / PASSWORD_FILE
    if not path.exists():
        private_directory(path.parent)
        # Written whole under a name of this process's, then linked into place: another
        # process of this home never reads it half-written, and the first link wins.
        draft = path.with_name(f".{PASSWORD_FILE}.{os.getpid()}")
        write_private(draft, secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


# What the application's role must never have; kept so on every start.
_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


async def _ensure_login_role(
    admin: asyncpg.Connection, role: str, password: str, app_url: str
) -> None:
    # Roles are shared by the cluster's databases: hubs on other databases (tests) create
    # the same role at the same time, hence the tolerance of a duplicate.
    row = await admin.fetchrow(
        "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls "
        "OR NOT rolcanlogin AS too_much FROM pg_roles WHERE rolname = $1",
        role,
    )
    if row is None:
        create = (
            "SELECT format('CREATE ROLE %I " + _ATTRIBUTES + " PASSWORD %L', $1::text, $2::text)"
        )
        # Two creating at once: the loser sees a duplicate, or the catalog's unique index.
        with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            await admin.execute(await admin.fetchval(create, role, password))
        return
    if row["too_much"]:
        alter = "SELECT format('ALTER ROLE %I " + _ATTRIBUTES + "', $1::text)"
        await admin.execute(await admin.fetchval(alter, role))
    if not await _password_works(app_url):
        reset = "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)"
        await admin.execute(await admin.fetchval(reset, role, password))


async def _password_works(app_url: str) -> bool:
    try:
        conn = await asyncpg.connect(asyncpg_dsn(app_url))
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False
    await conn.close()
    return True


async def _grant(admin: asyncpg.Connection, role: str, schemas: Sequence[Schema]) -> None:
    """What the application needs and no more: schema usage, rows of every table (reading
    and appending only for the append-only ones), sequences. It owns nothing, so it cannot
    ALTER a table or DISABLE its triggers."""
    async with admin.transaction():
        await admin.execute(_GRANT_LOCK)
        for schema in schemas:
            quoted = await admin.fetchval("SELECT quote_ident($1::text)", schema.name)
            exists = await admin.fetchval(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1", schema.name
            )
            if not exists:
                continue
            who = await admin.fetchval("SELECT quote_ident($1::text)", role)
            await admin.execute(f"GRANT USAGE ON SCHEMA {quoted} TO {who}")
            await admin.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted} TO {who}"
            )
            await admin.execute(
                f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {quoted} TO {who}"
            )
            for table in schema.append_only_tables:
                name = await admin.fetchval("SELECT quote_ident($1::text)", table)
                await admin.execute(
                    f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES "
                    f"ON {quoted}.{name} FROM {who}"
                )


async def serving_url(database_url: str) -> str:
    """GOVHUB_DATABASE_URL as it is, when a migration job has migrated and granted
    (GOVHUB_MIGRATE_ON_START=false): the process holds no owner's credentials at all."""
    await _refuse_superuser(
        database_url,
        "GOVHUB_DATABASE_URL connects as a superuser while GOVHUB_MIGRATE_ON_START is false: "
        "give the hub the application's own role (docs/deployment.md, Database roles)",
    )
    return database_url


async def _refuse_superuser(
    app_url: str,
    reason: str = "GOVHUB_DATABASE_URL connects as a superuser while "
    "GOVHUB_DATABASE_MIGRATION_URL is given: the application must have a role of its own "
    "(docs/deployment.md)",
) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(app_url))
    try:
        superuser = await conn.fetchval(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await conn.close()
    if superuser:
        raise DatabaseRoleError(reason)
