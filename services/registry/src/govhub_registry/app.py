"""The registry service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from fastapi import APIRouter
from sqlalchemy import text

from govhub_common.db import asyncpg_dsn
from govhub_common.runtime import ServiceContext
from govhub_common.service import ServiceSpec
from govhub_registry.access import routes as access_routes
from govhub_registry.access.policy import load_access_policy
from govhub_registry.conflicts import routes as conflicts_routes
from govhub_registry.consumers import registry_consumers
from govhub_registry.ingest import routes as ingest_routes
from govhub_registry.ingest.mapping import load_mapping
from govhub_registry.lookup import routes as lookup_routes
from govhub_registry.lookup.fast_path import LookupFastPath
from govhub_registry.mappings import routes as mappings_routes
from govhub_registry.mappings.service import apply_mapping_file
from govhub_registry.matching import routes as matching_routes
from govhub_registry.metrics import CONFLICTS_OPEN, MATCH_REVIEW_PENDING
from govhub_registry.settings import RegistrySettings
from govhub_registry.state import make_state, registry_state

SCHEMA = "registry"


async def startup(ctx: ServiceContext) -> None:
    settings: RegistrySettings = ctx.settings
    # A city's files seed the mappings the API manages: applied at each start, they never
    # overwrite a topic whose mapping was changed or removed through the API.
    if settings.city_files is not None:
        file_mapping = load_mapping(settings.city_files)
        async with ctx.db.session() as session:
            await apply_mapping_file(session, file_mapping)
    state = registry_state(ctx)
    state.access_policy = load_access_policy(settings.registry_access_policy_file)
    # Lookups by ID read and log in one statement on a plain asyncpg pool: one round trip
    # instead of a session's ping, BEGIN, read, log and COMMIT.
    state.lookup_pool = await asyncpg.create_pool(
        asyncpg_dsn(ctx.db.url),
        min_size=1,
        max_size=settings.db_pool_size,
        reset=_keep_as_is,
    )


async def _keep_as_is(connection: asyncpg.Connection) -> None:
    """The lookup pool runs single statements (their own transactions) and changes no
    session state, so a connection goes back as it came: no reset round trip (asyncpg's
    default sends UNLISTEN, RESET ALL, ... on every release)."""


async def shutdown(ctx: ServiceContext) -> None:
    pool = getattr(registry_state(ctx), "lookup_pool", None)
    if pool is not None:
        await pool.close()


async def refresh_gauges(ctx: ServiceContext) -> None:
    settings: RegistrySettings = ctx.settings
    while True:
        async with ctx.db.session() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT (SELECT count(*) FROM registry.conflict WHERE status = 'open') AS c, "
                        "(SELECT count(*) FROM registry.match_review WHERE status = 'pending') AS r"
                    )
                )
            ).one()
        CONFLICTS_OPEN.set(row.c)
        MATCH_REVIEW_PENDING.set(row.r)
        await asyncio.sleep(settings.registry_gauge_seconds)


def _routers() -> list[APIRouter]:
    # In this order, the order of the paths in the OpenAPI document.
    return [
        lookup_routes.router,
        access_routes.router,
        conflicts_routes.router,
        matching_routes.router,
        ingest_routes.router,
        mappings_routes.router,
    ]


SERVICE = ServiceSpec(
    name="registry",
    prefix="/registry",
    schema=SCHEMA,
    title="registry",
    description="Natural-person and legal-entity base registries (自然人、法人基础数据库).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=RegistrySettings,
    routers=_routers,
    consumers=registry_consumers,
    background=[refresh_gauges],
    state=make_state,
    startup=startup,
    shutdown=shutdown,
    middleware=[LookupFastPath],
)
