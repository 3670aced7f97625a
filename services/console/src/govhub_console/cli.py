"""`govhub console account ...`: the local accounts operators manage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from govhub_common.persons import ROLES


def make_cli() -> typer.Typer:
    app = typer.Typer(name="console", help="The console: local accounts of people.")
    account = typer.Typer(name="account", help="Local accounts (GOVHUB_CONSOLE_LOCAL_ACCOUNTS).")
    app.add_typer(account)

    @account.command("add")
    def add(
        username: Annotated[str, typer.Option(help="The name the person signs in with.")],
        agency: Annotated[str, typer.Option(help="The agency's code (as the exchange has it).")],
        role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
        name: Annotated[str | None, typer.Option(help="Display name (default: username).")] = None,
    ) -> None:
        """Register a person; prints the generated password once (give it to them)."""
        from govhub_console.accounts import service

        async def run(session: Any, hasher: Any) -> str:
            return await service.add_account(
                session, hasher=hasher, username=username, agency=agency, role=role,
                display_name=name,
            )  # fmt: skip

        password = _run(run)
        typer.echo(f"added {username} ({role} of {agency}); password (shown once): {password}")

    @account.command("list")
    def list_() -> None:
        """Every local account with its agency, role and state."""
        from govhub_console.accounts import service

        async def run(session: Any, hasher: Any) -> list[str]:
            now = datetime.now(UTC)
            lines = []
            for a in await service.list_accounts(session):
                state = (
                    "disabled"
                    if a.disabled
                    else "locked"
                    if a.locked_until is not None and a.locked_until > now
                    else "active"
                )
                lines.append(f"{a.username}\t{a.agency}\t{a.role}\t{state}\t{a.display_name}")
            return lines

        for line in _run(run):
            typer.echo(line)

    @account.command("disable")
    def disable(username: Annotated[str, typer.Option(help="The account.")]) -> None:
        """The account can no longer sign in; its sessions end now."""
        from govhub_console.accounts import service

        async def run(session: Any, hasher: Any) -> None:
            await service.disable_account(session, username=username)

        _run(run)
        typer.echo(f"disabled {username}")

    @account.command("reset-password")
    def reset_password(username: Annotated[str, typer.Option(help="The account.")]) -> None:
        """A new generated password (printed once); unlocks and enables the account."""
        from govhub_console.accounts import service

        async def run(session: Any, hasher: Any) -> str:
            return await service.reset_password(session, hasher=hasher, username=username)

        password = _run(run)
        typer.echo(f"new password of {username} (shown once): {password}")

    return app


def _run(action: Any) -> Any:
    """Run `action(session, hasher)` in one transaction on the hub's database, its console
    schema migrated first (an account may be added before the hub ever ran)."""
    from govhub_common.cli import resolve_database
    from govhub_common.db import Database
    from govhub_common.migrations import upgrade
    from govhub_common.roles import migration_url
    from govhub_console.accounts.service import AccountError, password_hasher
    from govhub_console.app import SERVICE
    from govhub_console.settings import ConsoleSettings

    settings = ConsoleSettings()
    if not settings.console_local_accounts:
        typer.echo("local accounts are turned off (GOVHUB_CONSOLE_LOCAL_ACCOUNTS=false)", err=True)
        raise typer.Exit(2)
    url, _server = resolve_database(settings)
    if settings.migrate_on_start:
        upgrade(SERVICE.migrations, migration_url(settings, url), SERVICE.schema)

    async def run() -> Any:
        db = Database(url, pool_size=1)
        try:
            async with db.session() as session:
                return await action(session, password_hasher())
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except AccountError as exc:
        typer.echo(f"govhub console account: {exc}", err=True)
        raise typer.Exit(1) from None
