"""The `govhub` command: run, migrate, version, and the services' own sub-commands."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from govhub_common.logs import configure_logging
from govhub_common.metrics import serve_metrics
from govhub_common.runtime import ALL, ConfigurationError, create_app, select_services
from govhub_common.settings import CommonSettings

app = typer.Typer(
    name="govhub",
    help="govhub: the municipal e-government data hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
log = logging.getLogger("govhub.cli")


def resolve_database(settings: CommonSettings) -> tuple[str, Any]:
    """The configured URL, or the embedded PostgreSQL under GOVHUB_HOME (started here)."""
    if settings.database_url:
        return settings.database_url, None
    if not settings.is_development:
        raise ConfigurationError("GOVHUB_DATABASE_URL is required in production")
    from govhub_common.embedded import (
        start_embedded_postgres,
        stop_embedded_postgres_on_sigterm,
    )

    console.print(
        f"[dim]no GOVHUB_DATABASE_URL: using the embedded PostgreSQL in {settings.home}/pgdata[/]"
    )
    server, url = start_embedded_postgres(settings.home)
    stop_embedded_postgres_on_sigterm()
    return url, server


@app.command()
def run(
    target: Annotated[
        str, typer.Option(help="all, or one service: registry, exchange, alerting, sms-gateway")
    ] = ALL,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes serving the port, each a full copy of the target (one Python "
            "process uses one core). They share the outboxes, inboxes and timers in PostgreSQL.",
        ),
    ] = 1,
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate",
            help="Simulation mode (GOVHUB_SIMULATE=true): no scheduler follows the wall clock; "
            "time moves only with the `as_of` of POST /alerting/v1/evaluate and "
            "/sms/v1/dispatch and the business_time of published records.",
        ),
    ] = False,
) -> None:
    """Serve the hub (all services in one process) or one service (split mode)."""
    import uvicorn

    if simulate:
        # Through the environment, so that the services' settings and --workers children
        # read it as the runtime does.
        os.environ["GOVHUB_SIMULATE"] = "true"
    settings = CommonSettings()
    configure_logging(settings.log_level, settings.log_format, mask_uscc=settings.mask_uscc)
    try:
        select_services(target)
        if target != ALL and not settings.amqp_url:
            raise ConfigurationError(
                f"--target {target} runs one service per process; separate processes talk "
                "through RabbitMQ, so set GOVHUB_AMQP_URL (e.g. amqp://guest:guest@localhost:5672/)"
            )
        url, _server = resolve_database(settings)
        application = create_app(target, database_url=url, settings=settings)
    except ConfigurationError as exc:
        console.print(f"[red]govhub: {exc}[/]")
        raise typer.Exit(2) from None
    console.print(
        f"govhub {target} listening on http://{host}:{port}  (OpenAPI: http://{host}:{port}/<service>/docs)"
    )
    if settings.simulate:
        console.print(
            "[yellow]simulation mode: no scheduler follows the wall clock; drive time with "
            "POST /alerting/v1/evaluate and /sms/v1/dispatch (docs/operations.md)[/]"
        )
    metrics_host = settings.metrics_host or host
    if settings.metrics_port is not None:
        if settings.metrics_port == port:
            console.print("[red]govhub: GOVHUB_METRICS_PORT must differ from --port[/]")
            raise typer.Exit(2)
        console.print(f"metrics on http://{metrics_host}:{settings.metrics_port}/metrics")
    # uvicorn would take X-Forwarded-For from any loopback peer as the client's address;
    # the hub decides whom it believes itself (the exchange's GOVHUB_TRUSTED_PROXIES).
    if workers == 1:
        if settings.metrics_port is not None:
            serve_metrics(metrics_host, settings.metrics_port)
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
        )
        return
    # Worker processes build their own app from the environment: hand them the database
    # this process resolved (the embedded server lives as long as this process).
    os.environ["GOVHUB_DATABASE_URL"] = url
    os.environ["GOVHUB_WORKER_TARGET"] = target
    os.environ["GOVHUB_METRICS_HOST"] = metrics_host
    uvicorn.run(
        "govhub_common.cli:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


def worker_app() -> Any:
    """The app of one `--workers` process (uvicorn calls this in each child)."""
    settings = CommonSettings()
    configure_logging(settings.log_level, settings.log_format, mask_uscc=settings.mask_uscc)
    assert settings.database_url, "the parent process sets GOVHUB_DATABASE_URL"
    if settings.metrics_port is not None:
        # Each worker serves its own metrics on the shared port, as it serves the API on the
        # shared API port: a scrape reads one worker's (scale with replicas instead).
        serve_metrics(settings.metrics_host or "127.0.0.1", settings.metrics_port, shared_port=True)
    return create_app(settings.worker_target, database_url=settings.database_url, settings=settings)


@app.command()
def migrate(
    target: Annotated[str, typer.Option(help="all, or one service")] = ALL,
) -> None:
    """Upgrade every service's schema (or one) to its newest migration."""
    import asyncio

    from govhub_common.migrations import upgrade
    from govhub_common.roles import Schema, application_url, migration_url

    settings = CommonSettings()
    configure_logging(settings.log_level, "text")
    try:
        services = select_services(target)
        url, _server = resolve_database(settings)
    except ConfigurationError as exc:
        console.print(f"[red]govhub: {exc}[/]")
        raise typer.Exit(2) from None
    for spec in services.values():
        upgrade(spec.migrations, migration_url(settings, url), spec.schema)
        console.print(f"migrated {spec.name} (schema {spec.schema})")
    # The application's role gets its rights on what the migrations created.
    schemas = [Schema(spec.schema, spec.append_only_tables) for spec in services.values()]
    asyncio.run(application_url(settings, url, schemas))


@app.command()
def openapi(
    docs: Annotated[Path, typer.Option(help="The docs folder of the repository.")] = Path("docs"),
    check: Annotated[
        bool, typer.Option(help="Change nothing; exit 1 if a committed file is stale.")
    ] = False,
) -> None:
    """Write each service's OpenAPI document to docs/openapi/, the problem codes into
    docs/contracts.md, the city format's JSON Schema (docs/city-format.schema.json) and the
    bus's AsyncAPI document (docs/asyncapi.json): the committed contract, reviewed as a
    diff."""
    from govhub_common.openapi_documents import stale_files, write_files

    if check:
        stale = stale_files(docs)
        for path in stale:
            console.print(f"[red]stale: {path} (run `govhub openapi`)[/]")
        raise typer.Exit(1 if stale else 0)
    for path in write_files(docs):
        console.print(f"wrote {path}")


@app.command()
def version() -> None:
    """Print the versions of govhub and its services."""
    from importlib.metadata import version as pkg_version

    print(f"govhub {pkg_version('govhub-common')}")
    for spec in select_services(ALL).values():
        print(f"  {spec.name} {spec.version}")


HubUrlOption = Annotated[
    str,
    typer.Option(
        "--url", help="The hub's base URL, or /exchange=URL,/registry=URL,... per service."
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(envvar="GOVHUB_TOKEN", help="An operator token (else the client id and secret)."),
]
ClientIdOption = Annotated[
    str, typer.Option(envvar="GOVHUB_CLIENT_ID", help="The operator client's id.")
]
ClientSecretOption = Annotated[
    str | None,
    typer.Option(envvar="GOVHUB_CLIENT_SECRET", help="The operator client's secret."),
]


@app.command("apply")
def apply_city(
    files: Annotated[
        Path, typer.Option("-f", "--files", help="The city's folder (or one file).", exists=True)
    ],
    url: HubUrlOption = "http://127.0.0.1:8000",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the difference; change nothing.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also remove what the files no longer name.")
    ] = False,
    secrets_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where each new client's secret is written, once: DIR/<id>.secret (0600)."
        ),
    ] = None,
    settle_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the hub's events to settle.")
    ] = 120.0,
    token: TokenOption = None,
    client_id: ClientIdOption = "operator",
    client_secret: ClientSecretOption = None,
) -> None:
    """Make a running hub what a city's files describe (docs/city.md): print the difference,
    then (unless --dry-run) apply it through the public APIs. Exit 0 done, 1 a step failed,
    2 the files are invalid."""
    from govhub_common.city.format import InvalidCity, load_city
    from govhub_common.city.run import apply_documents
    from govhub_common.events_cli import operator_client

    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    try:
        documents = load_city(files)
    except InvalidCity as exc:
        for fault in exc.faults:
            err.print(fault, markup=False)
        err.print(f"[red]govhub apply: {len(exc.faults)} fault(s) in {files}; nothing applied[/]")
        raise typer.Exit(2) from None
    with operator_client(url, token, client_id, client_secret) as client:
        code = apply_documents(
            client,
            documents,
            me_client=None if token else client_id,
            prune=prune,
            dry_run=dry_run,
            secrets_dir=secrets_dir,
            settle_timeout=settle_timeout,
            out=out,
            err=err,
        )
    if code:
        raise typer.Exit(code)


@app.command("export")
def export_city(
    output: Annotated[Path, typer.Option("-o", "--output", help="The folder to write.")],
    url: HubUrlOption = "http://127.0.0.1:8000",
    token: TokenOption = None,
    client_id: ClientIdOption = "operator",
    client_secret: ClientSecretOption = None,
) -> None:
    """Write a running hub's configuration as a city's files (docs/city.md), which
    `govhub apply` takes: one YAML file per kind."""
    from govhub_common.city.export import export_city as write_city
    from govhub_common.city.state import HubError, read_state
    from govhub_common.events_cli import operator_client

    with operator_client(url, token, client_id, client_secret) as client:
        try:
            state = read_state(client)
        except HubError as exc:
            console.print(f"govhub export: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
    counts = write_city(state, output, me_client=None if token else client_id)
    Console(soft_wrap=True).print(
        "wrote " + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + f" to {output}"
    )


def _add_service_commands() -> None:
    """Sub-commands of the services (ServiceSpec.cli) and of other packages (entry-point
    group `govhub.cli`, e.g. `govhub demo`)."""
    from importlib.metadata import entry_points

    try:
        services = select_services(ALL)
    except Exception:  # a broken service package must not take the CLI down
        log.exception("could not load the services' commands")
        services = {}
    for spec in services.values():
        if spec.cli is not None:
            sub = spec.cli()
            app.add_typer(sub, name=sub.info.name or spec.name)
    for ep in entry_points(group="govhub.cli"):
        command = ep.load()
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=ep.name)
        else:
            app.command(name=ep.name)(command)


def main() -> None:
    from govhub_common.events_cli import events_app

    app.add_typer(events_app)
    _add_service_commands()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
