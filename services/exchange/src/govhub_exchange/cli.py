"""`govhub exchange ...`: exporting and verifying the audit log."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from govhub_exchange.audit.chain import verify_export


def make_cli() -> typer.Typer:
    app = typer.Typer(name="exchange", help="The exchange: audit log export and verification.")

    @app.command("audit-export")
    def audit_export(
        file: Annotated[Path, typer.Argument(help="Where to write the export (JSON).")],
        since: Annotated[str, typer.Option("--from", help="Start (inclusive), ISO 8601.")],
        until: Annotated[str, typer.Option("--to", help="End (exclusive), ISO 8601.")],
    ) -> None:
        """Write the entries of a time range, their signed checkpoints and the public key."""
        document = asyncio.run(_export(_iso(since, "--from"), _iso(until, "--to")))
        file.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        typer.echo(
            f"exported {len(document['entries'])} entries and "
            f"{len(document['checkpoints'])} checkpoints to {file}"
        )

    @app.command("audit-verify")
    def audit_verify(
        file: Annotated[Path, typer.Argument(help="An audit-export file.")],
    ) -> None:
        """Verify an export offline: the hash chain and each checkpoint signature."""
        report = verify_export(orjson.loads(file.read_bytes()))
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        if not report["valid"]:
            sys.exit(1)

    return app


def _iso(value: str, option: str) -> datetime:
    """ISO 8601 with or without an offset (click's datetime type takes no offset)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=option) from None


async def _export(since: datetime, until: datetime) -> dict[str, Any]:
    from govhub_common.cli import resolve_database
    from govhub_common.clock import ensure_utc
    from govhub_common.db import Database
    from govhub_common.security import load_key_pair
    from govhub_common.settings import CommonSettings
    from govhub_exchange.audit import service as audit

    settings = CommonSettings()
    url, _server = resolve_database(settings)
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session:
            return await audit.export(
                session,
                since=ensure_utc(since),
                until=ensure_utc(until),
                keys=load_key_pair(settings),
            )
    finally:
        await db.close()
