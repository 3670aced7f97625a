"""`govhub demo`: seed a city and replay a year through the hub's HTTP APIs."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from govhub_common.settings import CommonSettings

console = Console()

DEMO_DATABASE = "govhub_demo"


def command(
    scale: Annotated[
        float, typer.Option(help="Fraction of the city (1.0 = 34,000 new enterprises a year).")
    ] = 0.05,
    days: Annotated[int, typer.Option(help="Days to simulate, from 2008-01-01.")] = 365,
    seed: Annotated[int, typer.Option(help="Same seed, same city, same report.")] = 2008,
    url: Annotated[
        str | None,
        typer.Option(
            help="Drive a hub that is already running (e.g. split mode); default: start one here."
        ),
    ] = None,
    keep_serving: Annotated[
        bool, typer.Option(help="Keep the hub up afterwards with the demo data.")
    ] = False,
    host: Annotated[str, typer.Option(help="Where the hub started here listens.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the hub started here.")] = 8000,
    report: Annotated[
        Path, typer.Option(help="Where to write the Markdown report (and its .json beside it).")
    ] = Path("demo-report.md"),
    database: Annotated[
        str, typer.Option(help="Database the hub started here uses; recreated at each run.")
    ] = DEMO_DATABASE,
    city_files: Annotated[
        Path | None,
        typer.Option(
            "--city",
            help="The city's files, applied with `govhub apply` before the replay "
            "(default: the Guangzhou city, examples/cities/guangzhou).",
            exists=True,
        ),
    ] = None,
) -> None:
    """Seed a city (agencies, topics, subscriptions) and replay a year of its records through
    the hub's HTTP APIs, then report the hub's figures beside the founding document's."""
    if url is None:
        # The hub started here runs in simulation mode: the replay moves its clock itself
        # (evaluate and dispatch "as of" each day), and no scheduler follows the wall clock.
        os.environ["GOVHUB_SIMULATE"] = "true"
    settings = CommonSettings()
    try:
        ok = asyncio.run(
            _main(
                settings,
                scale,
                days,
                seed,
                url,
                keep_serving,
                host,
                port,
                report,
                database,
                city_files,
            )
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if not ok:
        raise typer.Exit(1)


async def _main(
    settings: CommonSettings,
    scale: float,
    days: int,
    seed: int,
    url: str | None,
    keep_serving: bool,
    host: str,
    port: int,
    report_path: Path,
    database: str,
    city_dir: Path | None,
) -> bool:
    from govhub_demo.city import simulate
    from govhub_demo.city_files import GUANGZHOU, CityFiles
    from govhub_demo.client import HubClient
    from govhub_demo.report import build_report
    from govhub_demo.scenario import replay

    console.print(
        f"[bold]govhub demo[/]: simulating the city (scale {scale}, {days} days, seed {seed})"
    )
    city = await asyncio.to_thread(simulate, seed=seed, scale=scale, days=days)
    console.print(
        f"  {city.truth.enterprises:,} new enterprises, {city.records():,} records to publish"
    )

    server: Any = None
    serving: asyncio.Task[None] | None = None
    accounts: list[Any] = []
    if url is None:
        server, serving, demo_url = await _start_hub(settings, host, port, database)
        url = f"http://{host}:{port}"
        accounts = await _console_accounts(settings, demo_url)
    else:
        console.print(
            "  the console's demo accounts are made only on a hub started here; on this one "
            "make them with `govhub console account add` (docs/console.md)"
        )
    # Each agency client's secret, written by `govhub apply` when it creates the client.
    files = CityFiles(city_dir or GUANGZHOU, Path(settings.home) / "demo-secrets")
    hub = HubClient(url, _operator_secret(settings))
    try:
        if not await hub.simulated():
            console.print(
                f"[red]the hub at {url} is not in simulation mode: its schedulers follow the "
                "wall clock and would fire the replayed year's deadlines at once. Start it "
                "with `govhub run --simulate` (GOVHUB_SIMULATE=true).[/]"
            )
            return False
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("replaying the year", total=days)
            measurements = await replay(
                hub,
                city,
                files,
                progress=lambda done: bar.update(task, completed=done),
            )
        result = await build_report(hub, city, measurements, scale=scale, seed=seed)
        text = result.markdown()
        await asyncio.to_thread(report_path.write_text, text, encoding="utf-8")
        figures = orjson.dumps(result.figures(), option=orjson.OPT_INDENT_2)
        await asyncio.to_thread(report_path.with_suffix(".json").write_bytes, figures)
        console.print(Markdown(text))
        console.print(f"report written to {report_path}")
        if keep_serving and serving is not None:
            token = await hub.token("operator")
            console.print(
                f"\n[bold green]The hub keeps serving the demo data[/] at {url} (Ctrl-C stops it).\n"
                + "".join(
                    f"  {name:12} {url}{prefix}/docs\n"
                    for name, prefix in [
                        ("registry", "/registry"),
                        ("exchange", "/exchange"),
                        ("alerting", "/alerting"),
                        ("sms-gateway", "/sms"),
                    ]
                )
                + f"\nAn operator token, valid 15 minutes (more from POST {url}/exchange/v1/oauth/token):\n"
            )
            # Plain print, as shell lines: a wrapped token cannot be copied.
            print(f"TOKEN={token}")
            print(
                f"curl -H \"Authorization: Bearer $TOKEN\" '{url}/alerting/v1/warnings?limit=5'\n"
            )
            if accounts:
                _print_console(url, accounts, settings)
            await serving
        return result.all_exact
    finally:
        await hub.close()
        if server is not None and serving is not None and not serving.done():
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


async def _console_accounts(settings: CommonSettings, database_url: str) -> list[Any]:
    """The demo's console accounts on the hub started here (none when local accounts are
    turned off)."""
    if not settings.console_local_accounts:
        console.print(
            "  GOVHUB_CONSOLE_LOCAL_ACCOUNTS=false: no console demo accounts (sign in with the "
            "city's account)"
        )
        return []
    from govhub_demo.console_accounts import ensure_demo_accounts

    return await ensure_demo_accounts(database_url, settings.home)


def _print_console(url: str, accounts: list[Any], settings: CommonSettings) -> None:
    from govhub_demo.console_accounts import accounts_path

    console.print(
        f"[bold]The console[/] (控制台): {url}/console/  "
        f"(accounts and passwords kept in {accounts_path(settings.home)}):"
    )
    # Plain print: a password wrapped or styled by the terminal cannot be copied.
    for account in accounts:
        print(
            f"  {account.username:13} password {account.password}  "
            f"{account.role} of {account.agency}"
        )
    print()


def _operator_secret(settings: CommonSettings) -> str:
    if settings.operator_bootstrap_secret is not None:
        return settings.operator_bootstrap_secret.get_secret_value()
    path = Path(settings.home) / "operator-secret"
    if not path.exists():
        raise typer.BadParameter(
            f"no operator secret: set GOVHUB_OPERATOR_BOOTSTRAP_SECRET or run the hub with GOVHUB_HOME={settings.home}"
        )
    return path.read_text(encoding="utf-8").strip()


async def _start_hub(
    settings: CommonSettings, host: str, port: int, database: str
) -> tuple[Any, asyncio.Task[None], str]:
    """The whole hub in this process on a fresh demo database (embedded by default), and
    that database's URL."""
    import uvicorn

    from govhub_common.db import with_database
    from govhub_common.logs import configure_logging
    from govhub_common.runtime import create_app
    from govhub_common.testing import drop_test_database

    configure_logging(os.environ.get("GOVHUB_LOG_LEVEL", "WARNING"), settings.log_format)
    if settings.database_url:
        admin_url = settings.database_url
    else:
        from govhub_common.embedded import (
            start_embedded_postgres,
            stop_embedded_postgres_on_sigterm,
        )

        _server, admin_url = await asyncio.to_thread(start_embedded_postgres, settings.home)
        _keep.append(_server)
        stop_embedded_postgres_on_sigterm()
    demo_url = with_database(admin_url, database)
    await drop_test_database(admin_url, demo_url)  # same seed, same report: start empty
    from govhub_common.embedded import ensure_database

    await ensure_database(admin_url, database)
    app = create_app("all", database_url=demo_url, settings=settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("the hub did not start")
        await asyncio.sleep(0.05)
    return server, serving, demo_url


_keep: list[Any] = []
