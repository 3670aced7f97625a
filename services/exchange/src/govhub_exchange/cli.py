"""`govhub exchange audit ...`: exporting the audit log and verifying it offline."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from govhub_exchange.audit.chain import PublicKeys, verify_export_lines


def make_cli() -> typer.Typer:
    app = typer.Typer(name="exchange", help="The exchange: audit log export and verification.")
    audit = typer.Typer(name="audit", help="Export the audit log; verify it offline.")
    app.add_typer(audit)

    @audit.command("export")
    def audit_export(
        file: Annotated[Path, typer.Argument(help="Where to write the export (NDJSON).")],
        since: Annotated[
            str | None, typer.Option("--from", help="Start (inclusive), ISO 8601.")
        ] = None,
        until: Annotated[
            str | None, typer.Option("--to", help="End (exclusive), ISO 8601.")
        ] = None,
    ) -> None:
        """Write the audit entries (all, or those of a time range) and the checkpoints that
        sign them, one JSON line each, for `govhub exchange audit verify`."""
        counted = asyncio.run(
            _export(
                file,
                _iso(since, "--from") if since else None,
                _iso(until, "--to") if until else None,
            )
        )
        typer.echo(f"exported {counted} lines to {file}")

    @audit.command("verify")
    def audit_verify(
        file: Annotated[Path, typer.Argument(help="A file of `govhub exchange audit export`.")],
        public_key: Annotated[
            Path,
            typer.Option(
                "--public-key",
                help="The hub's public key: its PEM, or its JWKS "
                "(/exchange/v1/.well-known/jwks.json), obtained apart from the export.",
            ),
        ],
        checkpoints: Annotated[
            Path | None,
            typer.Option(
                "--checkpoints",
                help="The folder of exported signed heads (GOVHUB_AUDIT_CHECKPOINT_DIR, or a "
                "copy from write-once storage): a complete export must reach each.",
            ),
        ] = None,
    ) -> None:
        """Verify an export without the database: the hash chain, each checkpoint's
        signature, and the exported heads. Exit 1 when anything fails."""
        try:
            keys = PublicKeys.load(public_key)
            with file.open("rb") as lines:
                report = verify_export_lines(lines, keys, checkpoints)
        except (OSError, ValueError) as exc:
            typer.echo(f"cannot verify: {exc}", err=True)
            raise typer.Exit(2) from None
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


async def _export(file: Path, since: datetime | None, until: datetime | None) -> int:
    from govhub_common.cli import resolve_database
    from govhub_common.clock import ensure_utc
    from govhub_common.db import Database
    from govhub_common.files import open_private
    from govhub_common.security import load_key_pair
    from govhub_common.settings import CommonSettings
    from govhub_exchange.audit import service as audit

    settings = CommonSettings()
    url, _server = resolve_database(settings)
    db = Database(url, pool_size=1)
    lines = 0
    try:
        async with db.session() as session:
            # Who received what, per agency: readable by the exporting user only.
            with open_private(file, "w", binary=True) as out:
                async for line in audit.export_lines(
                    session,
                    since=ensure_utc(since) if since else None,
                    until=ensure_utc(until) if until else None,
                    keys=load_key_pair(settings),
                ):
                    out.write(line)
                    lines += 1
    finally:
        await db.close()
    return lines
