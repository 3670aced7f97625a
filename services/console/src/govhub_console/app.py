"""The console as the runtime hosts it (entry point `govhub.services`): pages for people,
at /console in both run modes, over the other services' public APIs."""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path

from fastapi import APIRouter

from govhub_common.runtime import ServiceContext
from govhub_common.service import ServiceSpec
from govhub_console.accounts.service import generate_password, hash_password
from govhub_console.assets import router as assets_router
from govhub_console.auth.service import prune_expired, wall_now
from govhub_console.cli import make_cli
from govhub_console.errors import install_error_pages
from govhub_console.hub_api import HubApi, make_client
from govhub_console.security import SecurityHeadersMiddleware
from govhub_console.settings import ConsoleSettings
from govhub_console.state import ConsoleState, make_state

SCHEMA = "console"
PRUNE_SECONDS = 300

log = logging.getLogger("govhub.console")


PACKAGE = Path(__file__).parent


def routers() -> list[APIRouter]:
    """Every domain's pages (each package of the console with a routes.py, by name), then
    the static files."""
    domains = sorted(path.parent.name for path in PACKAGE.glob("*/routes.py"))
    found = [importlib.import_module(f"govhub_console.{d}.routes").router for d in domains]
    return [*found, assets_router]


async def startup(ctx: ServiceContext) -> None:
    state: ConsoleState = ctx.state
    state.dummy_hash = await hash_password(state.hasher, generate_password())
    state.api = HubApi(make_client(ctx.runtime, ctx.settings), state.client_secret)


async def shutdown(ctx: ServiceContext) -> None:
    state: ConsoleState = ctx.state
    if state.api is not None:
        await state.api.aclose()


async def prune_sessions(ctx: ServiceContext) -> None:
    """Sessions past their expiry and stale pending sign-ins are deleted, on every replica
    (a delete is idempotent)."""
    settings: ConsoleSettings = ctx.settings
    while True:
        await prune_expired(ctx.db, settings, wall_now())
        await asyncio.sleep(PRUNE_SECONDS)


SERVICE = ServiceSpec(
    name="console",
    prefix="/console",
    schema=SCHEMA,
    title="console",
    description="The web console for case officers, data stewards and operators (控制台).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=ConsoleSettings,
    routers=routers,
    state=make_state,
    startup=startup,
    shutdown=shutdown,
    background=[prune_sessions],
    middleware=[SecurityHeadersMiddleware],
    cli=make_cli,
    api_docs=False,
    install=install_error_pages,
)
