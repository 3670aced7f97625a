"""What a service declares so the runtime can host it, alone or beside the others.

Services register a ServiceSpec under the `govhub.services` entry-point group; common
never imports a service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from govhub_common.outbox import InboxHandler
from govhub_common.settings import CommonSettings

if TYPE_CHECKING:
    import typer

    from govhub_common.runtime import ServiceContext


@dataclass(frozen=True)
class Consumer:
    """A consumer group of this service: `<service>.<name>` bound to routing patterns.
    The handler runs in a transaction with the inbox row (effect exactly once)."""

    name: str
    patterns: Sequence[str]
    handler: InboxHandler


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the --target name
    prefix: str  # URL prefix, the same in both run modes
    schema: str  # the PostgreSQL schema this service owns
    title: str
    description: str
    version: str
    migrations: Path
    settings_class: type[CommonSettings] = CommonSettings
    routers: Callable[[], Sequence[APIRouter]] = lambda: ()
    consumers: Callable[[ServiceContext], Sequence[Consumer]] = lambda ctx: ()
    # Names of consumer groups this service had and dropped: removed from the broker at
    # startup.
    retired_consumers: Sequence[str] = ()
    # Long-running tasks (schedulers, pollers); cancelled at shutdown.
    background: Sequence[Callable[[ServiceContext], Awaitable[None]]] = ()
    # Makes the service's per-process state (ServiceContext.state) when its context is made.
    state: Callable[[ServiceContext], Any] | None = None
    startup: Callable[[ServiceContext], Awaitable[None]] | None = None
    shutdown: Callable[[ServiceContext], Awaitable[None]] | None = None
    cli: Callable[[], typer.Typer] | None = None
    # ASGI middleware classes wrapped around this service's app (first = outermost), e.g. a
    # hot path answered before routing.
    middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = ()
    # Tables of the schema the application may only read and append to (an audit log):
    # its database role gets no UPDATE, DELETE or TRUNCATE there (govhub_common.roles).
    append_only_tables: Sequence[str] = ()
    # An HTTP API for integrations, described by OpenAPI (/docs, /openapi.json, the
    # committed document under docs/openapi/). False for the console, whose pages are for
    # people and whose routes are no contract.
    api_docs: bool = True
    # Adds to the service's app what routers cannot carry (the console's HTML error pages:
    # exception handlers); called after the routers are included.
    install: Callable[[FastAPI], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def discover_services() -> dict[str, ServiceSpec]:
    """Every installed service, by target name, in a stable order."""
    found: dict[str, ServiceSpec] = {}
    for ep in entry_points(group="govhub.services"):
        spec = ep.load()
        found[spec.name] = spec
    order = ["registry", "exchange", "alerting", "sms-gateway", "console"]
    return dict(
        sorted(found.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0]))
    )
