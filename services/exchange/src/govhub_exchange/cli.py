"""`govhub exchange audit ...`: exporting the audit log and verifying it offline.
`govhub exchange log ...`: the log's segments, their retention and archive."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from govhub_exchange.audit.chain import PublicKeys, verify_export_lines

if TYPE_CHECKING:
    from govhub_common.db import Database
    from govhub_exchange.settings import ExchangeSettings


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
                *_database(),
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

    log_app = typer.Typer(
        name="log", help="The log's segments: archive those past retention, import them back."
    )
    app.add_typer(log_app)

    @log_app.command("maintain")
    def log_maintain(
        as_of: Annotated[
            str | None,
            typer.Option("--as-of", help="The time to judge ages by, ISO 8601 (default: now)."),
        ] = None,
    ) -> None:
        """Close open segments a month old, compress records a day old into blocks and
        archive the segments past their topic's retention, as the exchange does each hour
        (GOVHUB_LOG_MAINTENANCE_SECONDS)."""
        when = _iso(as_of, "--as-of") if as_of else None
        report = asyncio.run(_maintain(*_database(), when))
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())

    @log_app.command("import")
    def log_import(
        topic: Annotated[str, typer.Argument(help="The topic's code.")],
        from_seq: Annotated[
            int,
            typer.Option("--from-seq", min=1, max=2**63 - 1, help="The first seq wanted back."),
        ],
    ) -> None:
        """Bring archived records back into the live log, from the segment holding
        --from-seq up to the live log, for GOVHUB_LOG_IMPORT_KEEP_DAYS."""
        try:
            report = asyncio.run(_import(*_database(), topic, from_seq))
        except (OSError, ValueError) as exc:
            typer.echo(f"cannot import: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())

    @log_app.command("segments")
    def log_segments(topic: Annotated[str, typer.Argument(help="The topic's code.")]) -> None:
        """A topic's segments: their seqs, whether archived, and where."""
        _settings, url = _database()
        try:
            report = asyncio.run(_segments(url, topic))
        except ValueError as exc:
            typer.echo(f"cannot list: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())

    return app


def _database() -> tuple[ExchangeSettings, str]:
    """The exchange's settings and database URL, resolved before any event loop runs: the
    embedded PostgreSQL of the development default starts with its own."""
    from govhub_common.cli import resolve_database
    from govhub_exchange.settings import ExchangeSettings

    settings = ExchangeSettings()
    url, _server = resolve_database(settings)
    return settings, url


@contextlib.asynccontextmanager
async def _opened(url: str) -> AsyncIterator[Database]:
    from govhub_common.db import Database

    db = Database(url, pool_size=1)
    try:
        yield db
    finally:
        await db.close()


async def _maintain(settings: ExchangeSettings, url: str, as_of: datetime | None) -> Any:
    from govhub_common.clock import ensure_utc, utcnow
    from govhub_common.security import load_key_pair
    from govhub_exchange.archive import service as archive
    from govhub_exchange.audit import service as audit

    directory = archive.archive_dir(settings, url)
    async with _opened(url) as db:
        done = await archive.maintain(
            db,
            settings,
            directory=directory,
            keys=load_key_pair(settings),
            checkpoint_dir=audit.checkpoint_dir(settings, url),
            now=ensure_utc(as_of) if as_of else utcnow(),
        )
    return {
        "closed": done.closed,
        "compressed": done.compressed,
        "archived": done.archived,
        "folder": str(directory),
    }


async def _import(settings: ExchangeSettings, url: str, topic: str, from_seq: int) -> Any:
    from govhub_exchange.archive import service as archive

    async with _opened(url) as db:
        return await archive.import_segments(
            db,
            topic=topic,
            from_seq=from_seq,
            directory=archive.archive_dir(settings, url),
            keep=timedelta(days=settings.log_import_keep_days),
            actor="operator (govhub exchange log import)",
        )


async def _segments(url: str, topic: str) -> Any:
    from govhub_exchange.archive import service as archive

    async with _opened(url) as db:
        return await archive.segments(db, topic=topic)


def _iso(value: str, option: str) -> datetime:
    """ISO 8601 with or without an offset (click's datetime type takes no offset)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=option) from None


async def _export(
    settings: ExchangeSettings,
    url: str,
    file: Path,
    since: datetime | None,
    until: datetime | None,
) -> int:
    from govhub_common.clock import ensure_utc
    from govhub_common.files import open_private
    from govhub_common.security import load_key_pair
    from govhub_exchange.audit import service as audit

    lines = 0
    async with _opened(url) as db, db.session() as session:
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
    return lines
