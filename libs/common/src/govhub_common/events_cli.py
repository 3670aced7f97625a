"""`govhub events`: an operator's view of a running hub's events: wait until it has settled,
list dead letters and re-drive them.

Talks to the hub's HTTP API (`/<prefix>/v1/events/dead-letters`) with an operator token,
given as `--token` or obtained with the operator client's credentials."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from govhub_common.hub_urls import hub_client, serves
from govhub_common.service import discover_services

events_app = typer.Typer(
    name="events",
    help="Events of a running hub: wait until settled; dead letters: list and re-drive.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

UrlOption = Annotated[
    str, typer.Option(help="The hub's base URL, or /exchange=URL,/registry=URL,... per service.")
]
ServiceOption = Annotated[
    str, typer.Option(help="The service whose consumers' dead letters: registry, alerting, ...")
]
TokenOption = Annotated[
    str | None, typer.Option(help="An operator token (else --client-id and --client-secret).")
]
ClientIdOption = Annotated[str, typer.Option(help="Operator client id.")]
SecretOption = Annotated[
    str | None, typer.Option(help="Operator client secret.", prompt=False, hide_input=True)
]


def _prefix(service: str) -> str:
    services = discover_services()
    if service not in services:
        err.print(f"[red]unknown service {service!r}; choose one of: {', '.join(services)}[/]")
        raise typer.Exit(2)
    return services[service].prefix


def operator_client(
    url: str, token: str | None, client_id: str, secret: str | None
) -> httpx.Client:
    """An HTTP client of the hub carrying an operator token (`govhub events`, `apply`, ...);
    `url` is the hub's base URL or one per service prefix (govhub_common.hub_urls)."""
    if token is None:
        if secret is None:
            err.print("[red]give --token, or --client-id and --client-secret[/]")
            raise typer.Exit(2)
        # A client of its own: the one returned is opened by the caller's `with`, which
        # httpx refuses on a client that has already sent a request.
        with hub_client(url) as anonymous:
            reply = anonymous.post(
                "/exchange/v1/oauth/token",
                data={"grant_type": "client_credentials", "scope": "operator"},
                auth=(client_id, secret),
            )
        token = _check(reply)["access_token"]
    return hub_client(url, headers={"Authorization": f"Bearer {token}"})


def _check(reply: httpx.Response) -> dict[str, Any]:
    if reply.status_code >= 400:
        try:
            detail = reply.json().get("detail", reply.text)
        except ValueError:
            detail = reply.text
        err.print(
            f"[red]{reply.request.method} {reply.request.url.path}: {reply.status_code} {detail}[/]"
        )
        raise typer.Exit(1)
    body: dict[str, Any] = reply.json()
    return body


@events_app.command("dead-letters")
def list_dead_letters(
    service: ServiceOption,
    url: UrlOption = "http://127.0.0.1:8000",
    group: Annotated[str | None, typer.Option(help="One consumer group (default: all).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    token: TokenOption = None,
    client_id: ClientIdOption = "operator",
    client_secret: SecretOption = None,
) -> None:
    """List a service's dead-lettered events with why they were parked."""
    params: dict[str, Any] = {"limit": limit}
    if group:
        params["group"] = group
    with operator_client(url, token, client_id, client_secret) as client:
        page = _check(client.get(f"{_prefix(service)}/v1/events/dead-letters", params=params))
    table = Table("group", "event id", "type", "attempts", "dead-lettered at", "reason")
    for letter in page["data"]:
        table.add_row(
            letter["group"],
            letter["event_id"],
            letter["type"] or "",
            str(letter["attempts"] or ""),
            letter["dead_lettered_at"] or "",
            letter["reason"],
        )
    out.print(table)
    out.print(f"{len(page['data'])} shown of {page['total']} dead letters")


@events_app.command("redrive")
def redrive(
    service: ServiceOption,
    group: Annotated[str, typer.Option(help="The consumer group, e.g. registry.records.")],
    url: UrlOption = "http://127.0.0.1:8000",
    event_id: Annotated[
        list[str] | None, typer.Option(help="An event to re-drive (repeat for several).")
    ] = None,
    all_events: Annotated[bool, typer.Option("--all", help="Re-drive every dead letter.")] = False,
    token: TokenOption = None,
    client_id: ClientIdOption = "operator",
    client_secret: SecretOption = None,
) -> None:
    """Give dead-lettered events to their consumers again (a repeat has no effect)."""
    if bool(event_id) == all_events:
        err.print("[red]give --event-id (one or more) or --all[/]")
        raise typer.Exit(2)
    body: dict[str, Any] = {"group": group}
    if all_events:
        body["all"] = True
    else:
        body["event_ids"] = event_id
    with operator_client(url, token, client_id, client_secret) as client:
        result = _check(
            client.post(f"{_prefix(service)}/v1/events/dead-letters/redrive", json=body)
        )
    out.print(f"re-drove {result['redriven']} events of {group}; {result['remaining']} remain")


@events_app.command("wait")
def wait(
    url: UrlOption = "http://127.0.0.1:8000",
    timeout: Annotated[
        float, typer.Option(min=0, help="Give up (exit 1) after this many seconds.")
    ] = 300.0,
    token: TokenOption = None,
    client_id: ClientIdOption = "operator",
    client_secret: SecretOption = None,
) -> None:
    """Wait until the hub has settled: every service's outbox and consumer queues empty and
    no handler running, twice in a row (so events caused by events are caught too). A
    simulation runs it after publishing a day and before it moves the clock."""
    with operator_client(url, token, client_id, client_secret) as client:
        busy = wait_until_settled(client, timeout)
    if busy is not None:
        err.print(f"[red]not settled after {timeout:g}s: {busy or 'still changing'}[/]")
        raise typer.Exit(1)
    out.print("settled")


def wait_until_settled(client: httpx.Client, timeout: float) -> str | None:
    """Poll every service's /v1/events/status until all are idle twice in a row; None once
    settled, else (after `timeout` seconds) the services still busy."""
    deadline = time.monotonic() + timeout
    quiet = 0
    prefixes = [s.prefix for s in discover_services().values() if serves(client, s.prefix)]
    while True:
        statuses = [_check(client.get(f"{prefix}/v1/events/status")) for prefix in prefixes]
        quiet = quiet + 1 if all(s["idle"] for s in statuses) else 0
        if quiet >= 2:
            return None
        if time.monotonic() > deadline:
            return ", ".join(s["service"] for s in statuses if not s["idle"])
        time.sleep(0.05 if quiet else 0.2)
