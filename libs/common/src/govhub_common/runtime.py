"""Hosting services: one process runs all of them (all-in-one) or one (split mode).

Like Mimir's targets: the same code, selected by `--target`. Each service is a FastAPI
sub-app mounted at its prefix, so agency URLs are the same in both modes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from re import Pattern
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common import revocation
from govhub_common.bus import InProcessBus, Subscription
from govhub_common.bus.base import EventBus
from govhub_common.clock import Clock
from govhub_common.contract import install_contract, operation_id
from govhub_common.db import Database
from govhub_common.dead_letters import dead_letters_router
from govhub_common.events import CloudEvent
from govhub_common.faults import DatabaseGate
from govhub_common.gauge_lease import GaugeLease
from govhub_common.json_input import StrictJsonMiddleware, own_json_routes
from govhub_common.limits import BodyLimitMiddleware, RouteLimit, route_limits
from govhub_common.methods import install_options
from govhub_common.metrics import BUS_CONNECTED, initialise_http_routes
from govhub_common.migrations import upgrade_async
from govhub_common.outbox import InFlight, OutboxRelay, idempotent
from govhub_common.problems import install_problem_handlers
from govhub_common.roles import Schema, application_url, migration_url, serving_url
from govhub_common.security import KeyPair, TokenVerifier, load_key_pair
from govhub_common.service import Consumer, ServiceSpec, discover_services
from govhub_common.settings import CommonSettings
from govhub_common.web import (
    RequestContextMiddleware,
    degrades_only,
    events_status_router,
    health_router,
    process_events_router,
    whoami_router,
)

log = logging.getLogger("govhub.runtime")

ALL = "all"


class ConfigurationError(RuntimeError):
    """A setting makes the requested run impossible; the message says which."""


@dataclass
class ServiceContext:
    """What a service's startup, consumers and background tasks get."""

    runtime: Runtime
    spec: ServiceSpec
    settings: Any
    # What the service keeps per process between requests and events: the object its
    # spec's `state` makes (a typed dataclass of the service's state.py), or None.
    state: Any = None

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def bus(self) -> EventBus:
        return self.runtime.bus

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def relay(self) -> OutboxRelay | None:
        return self.runtime.relays.get(self.spec.name)


# Route dependencies. Async on purpose: FastAPI runs a plain `def` dependency in a worker
# thread, a hop per request on every route that asks for its context.
async def service_context(request: Request) -> ServiceContext:
    """The context of the service whose app serves the request."""
    context: ServiceContext = request.app.state.context
    return context


async def service_settings(request: Request) -> Any:
    """The settings of the service whose app serves the request (its own settings class)."""
    return request.app.state.settings


ContextDep = Annotated[ServiceContext, Depends(service_context)]


@dataclass
class Runtime:
    settings: CommonSettings
    services: dict[str, ServiceSpec]
    database_url: str
    keys: KeyPair
    verifier: TokenVerifier
    clock: Clock = field(default_factory=Clock)
    db: Database = field(init=False)
    bus: EventBus = field(init=False)
    gate: DatabaseGate = field(init=False)
    gauge_lease: GaugeLease | None = None
    contexts: dict[str, ServiceContext] = field(default_factory=dict)
    relays: dict[str, OutboxRelay] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    in_flight: InFlight = field(default_factory=InFlight)
    groups: dict[str, list[str]] = field(default_factory=dict)  # service -> consumer groups
    # The outermost ASGI app (create_app's), through which a hosted service may call the
    # others' public APIs in-process (the console), with every middleware on the way.
    root: Any = None

    def context(self, service: str) -> ServiceContext:
        return self.contexts[service]


def select_services(target: str) -> dict[str, ServiceSpec]:
    available = discover_services()
    if target == ALL:
        return available
    if target not in available:
        raise ConfigurationError(
            f"unknown target {target!r}; choose one of: all, {', '.join(available)}"
        )
    return {target: available[target]}


def make_bus(settings: CommonSettings, target: str, service: str) -> EventBus:
    if settings.amqp_url:
        from govhub_common.bus.rabbitmq import RabbitMQBus

        return RabbitMQBus(
            settings.amqp_url,
            exchange=settings.amqp_exchange,
            queue_prefix=settings.amqp_queue_prefix,
            prefetch=settings.bus_prefetch,
            delivery_limit=settings.bus_delivery_limit,
            crash_delivery_limit=settings.bus_crash_delivery_limit,
            retry_delay=settings.bus_retry_delay_seconds,
            dead_letter_poll_seconds=settings.bus_dead_letter_poll_seconds,
            service=service,
            delete_queues_at_stop=settings.amqp_delete_queues_at_stop,
        )
    if target != ALL:
        raise ConfigurationError(
            f"--target {target} runs one service per process, and services in separate "
            "processes talk through RabbitMQ: set GOVHUB_AMQP_URL (e.g. amqp://guest:guest@localhost:5672/)"
        )
    return InProcessBus(
        delivery_limit=settings.bus_delivery_limit,
        retry_delay=settings.bus_retry_delay_seconds,
        service=service,
    )


def create_app(
    target: str = ALL,
    *,
    database_url: str,
    settings: CommonSettings | None = None,
    migrate: bool = True,
    clock: Clock | None = None,
) -> FastAPI:
    """The ASGI app for a target. The database URL is resolved by the caller (the CLI
    starts the embedded server when none is configured)."""
    settings = settings or CommonSettings()
    services = select_services(target)
    bus_label = "govhub" if target == ALL else target
    make_bus(settings, target, bus_label)  # refuse early, before anything starts
    keys = load_key_pair(settings)
    runtime = Runtime(
        settings=settings,
        services=services,
        database_url=database_url,
        keys=keys,
        verifier=TokenVerifier(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience),
        clock=clock or Clock(simulated=settings.simulate),
    )
    for spec in services.values():
        context = ServiceContext(runtime, spec, spec.settings_class())
        if spec.state is not None:
            context.state = spec.state(context)
        runtime.contexts[spec.name] = context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _start(runtime, target, migrate=migrate)
        try:
            yield
        finally:
            await _stop(runtime)

    root = FastAPI(
        title="govhub",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    root.state.runtime = runtime
    runtime.root = root
    install_problem_handlers(root)
    root.include_router(
        health_router(_readiness(runtime), metrics=runtime.settings.metrics_port is None)
    )
    root.include_router(process_events_router())
    own_body_limits: list[RouteLimit] = []
    own_json: list[Pattern[str]] = []
    for spec in services.values():
        app = _service_app(spec, runtime)
        root.mount(spec.prefix, app)
        own_body_limits += route_limits(
            app, prefix=spec.prefix, settings=runtime.contexts[spec.name].settings
        )
        own_json += own_json_routes(app, prefix=spec.prefix)

    @root.get("/", include_in_schema=False)
    async def index() -> dict[str, Any]:
        return {
            "service": "govhub",
            "target": target,
            "services": {
                s.name: {"prefix": s.prefix}
                | (
                    {"openapi": f"{s.prefix}/openapi.json", "docs": f"{s.prefix}/docs"}
                    if s.api_docs
                    else {}
                )
                for s in services.values()
            },
        }

    install_options(root)  # OPTIONS on the root's own paths; the mounts answer theirs
    root.add_middleware(StrictJsonMiddleware, own_json=own_json)  # duplicate keys: 422
    prefixes = {spec.prefix: spec.name for spec in services.values()}
    root.add_middleware(RequestContextMiddleware, service=bus_label, prefixes=prefixes)
    initialise_http_routes(root, service=bus_label, prefixes=prefixes)
    # Outermost: an overlong body is refused before anything (even the logs) reads it.
    root.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, route_limits=own_body_limits
    )
    return root


def _service_app(spec: ServiceSpec, runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title=f"govhub {spec.title}",
        description=spec.description,
        version=spec.version,
        generate_unique_id_function=operation_id,
        separate_input_output_schemas=False,
        # No API, no API pages: the console's routes are pages for people.
        docs_url="/docs" if spec.api_docs else None,
        redoc_url="/redoc" if spec.api_docs else None,
        openapi_url="/openapi.json" if spec.api_docs else None,
    )
    install_contract(app, prefix=spec.prefix)
    app.state.runtime = runtime
    app.state.context = runtime.contexts[spec.name]
    app.state.settings = runtime.contexts[spec.name].settings
    install_problem_handlers(app)
    app.include_router(
        health_router(_readiness(runtime), metrics=runtime.settings.metrics_port is None)
    )
    app.include_router(whoami_router())
    app.include_router(events_status_router(spec))
    app.include_router(dead_letters_router(spec))
    for router in spec.routers():
        app.include_router(router)
    if spec.install is not None:
        spec.install(app)
    install_options(app)
    for middleware in reversed(spec.middleware):
        app.add_middleware(middleware)
    return app


def _readiness(runtime: Runtime) -> dict[str, Any]:
    """The database is required; the broker is not: while it is down, the pod still serves
    reads and takes publishes (their events wait in the outbox), so /readyz reports the
    broker degraded and stays 200; govhub_bus_connected and its alert tell the operator."""

    async def database() -> None:
        await runtime.db.ping()

    async def broker() -> None:
        await runtime.bus.ping()

    return {"database": database, "broker": degrades_only(broker)}


async def _start(runtime: Runtime, target: str, *, migrate: bool) -> None:
    settings = runtime.settings
    label = "govhub" if target == ALL else target
    # Migrations as the role that owns the schemas; everything else as the application's
    # own role, which is never a superuser (govhub_common.roles).
    if not settings.migrate_on_start:
        # A migration job migrated and granted: this process holds the application's role only.
        runtime.database_url = await serving_url(runtime.database_url)
    else:
        if migrate:
            for spec in runtime.services.values():
                await upgrade_async(
                    spec.migrations, migration_url(settings, runtime.database_url), spec.schema
                )
        runtime.database_url = await application_url(
            settings,
            runtime.database_url,
            [Schema(spec.schema, spec.append_only_tables) for spec in runtime.services.values()],
        )
    runtime.db = Database(runtime.database_url, pool_size=settings.db_pool_size)
    runtime.gate = DatabaseGate(runtime.db.ping, service=label)
    runtime.bus = make_bus(settings, target, label)
    await runtime.bus.start()
    bus = runtime.bus
    BUS_CONNECTED.labels(label).set_function(lambda: 1.0 if bus.connected else 0.0)
    for spec in runtime.services.values():
        ctx = runtime.contexts[spec.name]
        if spec.startup:
            await spec.startup(ctx)
    # Before the first request: the process holds its database gauge leases, or knows
    # another replica does (see gauge_lease.py).
    runtime.gauge_lease = GaugeLease(runtime.database_url, runtime.services)
    await runtime.gauge_lease.check()
    runtime.tasks.append(asyncio.create_task(runtime.gauge_lease.run(), name="gauge-lease"))
    # Subscribe every consumer before any relay publishes.
    for spec in runtime.services.values():
        for name in spec.retired_consumers:
            await runtime.bus.retire(f"{spec.name}.{name}")
        ctx = runtime.contexts[spec.name]
        for consumer in [*spec.consumers(ctx), _revocation_consumer(runtime, spec)]:
            group = f"{spec.name}.{consumer.name}"
            handler = idempotent(
                runtime.db,
                spec.schema,
                group,
                consumer.handler,
                service=spec.name,
                in_flight=runtime.in_flight,
                gate=runtime.gate,
            )
            runtime.groups.setdefault(spec.name, []).append(group)
            await runtime.bus.subscribe(Subscription(group, consumer.patterns, handler))
    runtime.tasks.append(
        asyncio.create_task(
            revocation.refresh_forever(
                runtime.db,
                [spec.schema for spec in runtime.services.values()],
                runtime.verifier.revocations,
                interval=settings.revocation_refresh_seconds,
            ),
            name="token-revocations",
        )
    )
    for spec in runtime.services.values():
        ctx = runtime.contexts[spec.name]
        relay = OutboxRelay(
            runtime.db,
            runtime.bus,
            spec.schema,
            service=spec.name,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
        )
        runtime.relays[spec.name] = relay
        runtime.tasks.append(asyncio.create_task(relay.run(), name=f"{spec.name}-outbox"))
        runtime.tasks.append(asyncio.create_task(relay.listen(), name=f"{spec.name}-notify"))
        for task in spec.background:
            runtime.tasks.append(asyncio.create_task(_guard(task, ctx), name=f"{spec.name}-bg"))
    freeze_startup_objects()
    log.info("govhub %s started: %s", target, ", ".join(runtime.services))


def _revocation_consumer(runtime: Runtime, spec: ServiceSpec) -> Consumer:
    """Every service stores the exchange's token revocations in its own schema (so every
    replica reloads them, see govhub_common.revocation) and this process applies them at
    once."""

    async def revoked(session: AsyncSession, event: CloudEvent) -> None:
        revocations = revocation.revocations_of(event)
        await revocation.store_revocations(session, spec.schema, revocations)
        runtime.verifier.revocations.add(revocations)

    return Consumer(revocation.CONSUMER_NAME, [revocation.REVOKED_EVENT], revoked)


# Objects allocated between two young collections (CPython's default is 700). A 1,000-record
# batch allocates several hundred thousand (parsed records, claims, rows), and each young
# collection walks whatever of the batch is still alive: at 700, decoding the claims of a
# batch's subjects took 18 us a subject where 7 do with the collector idle, and the
# registry spent 14% more CPU in the whole hub's bench. Collection goes on, just less
# often; a young generation of this many objects holds a few MB at most.
YOUNG_COLLECTION_THRESHOLD = 50_000


def freeze_startup_objects() -> None:
    """Move what startup built (modules, routes, schemas, mappings: 170,000 objects and
    more) out of the garbage collector's sight: it lives as long as the process, and every
    full collection walked it again. A full collection took ~100 ms of the event loop
    under publish load (with topic locks held meanwhile), and a 1,000-record batch of
    ingest triggers several. Then young collections are made rarer (above)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


async def _guard(task: Any, ctx: ServiceContext) -> None:
    """Keep a background task alive across unexpected errors, with a pause between tries."""
    while True:
        try:
            await task(ctx)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task of %s failed; restarting it", ctx.spec.name)
            await asyncio.sleep(1.0)


async def _stop(runtime: Runtime) -> None:
    for relay in runtime.relays.values():
        relay.stop()
    await cancel_and_wait(runtime.tasks)
    runtime.tasks.clear()
    await runtime.gate.close_prober()
    for spec in runtime.services.values():
        if spec.shutdown:
            await spec.shutdown(runtime.contexts[spec.name])
    if runtime.gauge_lease is not None:
        await runtime.gauge_lease.close()
    await runtime.bus.close()
    await runtime.db.close()


async def cancel_and_wait(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and wait for them to end, cancelling again any still running: on
    Python 3.11, asyncio.wait_for swallows a cancellation that arrives as its awaitable
    completes, and a loop around it would then run on and hold the shutdown forever."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=1.0)


def _version() -> str:
    from importlib.metadata import version

    return version("govhub-common")


def targets() -> Sequence[str]:
    return [ALL, *discover_services()]
