"""The pieces every service app shares: middleware, health, readiness and metrics endpoints."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from govhub_common.logs import request_id_var, trace_id_var
from govhub_common.metrics import HTTP_DURATION, HTTP_REQUESTS
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import PROBLEM_JSON, Problem
from govhub_common.security import AnyPrincipal, Operator

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")

ReadinessCheck = Callable[[], Awaitable[None]]


def degrades_only(check: ReadinessCheck) -> ReadinessCheck:
    """Mark a readiness check whose failure degrades the pod but leaves it ready (/readyz
    answers 200 and names the failure): the broker, whose events wait in the outbox."""

    async def degrading() -> None:
        await check()

    degrading.degrades_only = True  # type: ignore[attr-defined]
    return degrading


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


def current_traceparent() -> str:
    return new_traceparent(trace_id_var.get())


class RequestContextMiddleware:
    """Sets request id and trace id for the logs, echoes them, and records HTTP metrics."""

    def __init__(self, app: ASGIApp, service: str, prefixes: dict[str, str] | None = None) -> None:
        self.app = app
        self.service = service
        self.prefixes = prefixes or {}
        # The labelled series per (service, route, method, status): prometheus-client's
        # labels() takes a lock and builds a key on every call.
        self._series: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}

    def _service_for(self, path: str) -> str:
        for prefix, name in self.prefixes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return name
        return self.service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given: str | None = None
        traceparent = ""
        for name, value in scope.get("headers", ()):  # ASGI header names are lower case
            if name == b"x-request-id":
                given = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
        # Present means valid: an empty X-Request-Id is as wrong as an overlong one.
        if given is not None and not REQUEST_ID.fullmatch(given):
            await _bad_request_id(scope, send)
            return
        request_id = given or os.urandom(16).hex()
        match = _TRACEPARENT.match(traceparent) if traceparent else None
        trace_id = match.group(1) if match else os.urandom(16).hex()
        rid_token = request_id_var.set(request_id)
        tid_token = trace_id_var.set(trace_id)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        root_path = scope.get("root_path", "")
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope, root_path)
            if route not in ("/metrics",):
                service = self._service_for(scope["path"])
                key = (service, route, scope["method"], status)
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = (
                        HTTP_REQUESTS.labels(service, route, scope["method"], str(status)),
                        HTTP_DURATION.labels(service, route, scope["method"]),
                    )
                series[0].inc()
                series[1].observe(time.perf_counter() - started)
            request_id_var.reset(rid_token)
            trace_id_var.reset(tid_token)


# A client's request id is echoed back and written in every log line: visible ASCII, bounded.
REQUEST_ID_PATTERN = r"[!-~]{1,128}"
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


async def _bad_request_id(scope: Scope, send: Send) -> None:
    problem = Problem(
        ProblemCode.VALIDATION_FAILED,
        "invalid input at header:$.X-Request-Id",
        errors=[
            {
                "path": "header:$.X-Request-Id",
                "message": "at most 128 visible ASCII characters",
                "type": "string_pattern_mismatch",
            }
        ],
    )
    body = orjson.dumps(problem.body(instance=scope.get("path")))
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _route_template(scope: Scope, root_path: str) -> str:
    """The matched route's path template, so metrics never carry an ID nor explode by it.

    Routing leaves the matched route in the scope, and each mount it went through in the
    root path ("/registry" + "/v1/persons/{id_number}").
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    return str(scope.get("root_path", ""))[len(root_path) :] + str(template)


def health_router(checks: dict[str, ReadinessCheck], *, metrics: bool = True) -> APIRouter:
    """/healthz, /readyz and, unless the metrics have a port of their own (`metrics`
    False: GOVHUB_METRICS_PORT), /metrics."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Ready: database reachable (broker reported, not required)")
    async def readyz() -> Response:
        results: dict[str, str] = {}
        ok, degraded = True, False
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                if getattr(check, "degrades_only", False):
                    degraded = True
                    results[name] = f"degraded: {type(exc).__name__}: {exc}"[:200]
                else:
                    ok = False
                    results[name] = f"failed: {type(exc).__name__}"
        status = "unavailable" if not ok else "degraded" if degraded else "ok"
        body = {"status": status, "checks": results}
        return JSONResponse(body, status_code=200 if ok else 503)

    if metrics:

        @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
        async def prometheus_metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def whoami_router() -> APIRouter:
    """`GET /v1/whoami`: lets an agency integration check its token against a service."""
    router = APIRouter(tags=["identity"])

    @router.get("/v1/whoami", summary="The agency and scopes of the calling token")
    async def whoami(principal: AnyPrincipal) -> dict[str, Any]:
        return {"agency": principal.agency, "scopes": sorted(principal.scopes)}

    return router


async def service_events_status(runtime: Any, spec: Any) -> dict[str, Any]:
    """Is one hosted service caught up with the bus? Idle means: nothing in its outbox,
    nothing waiting in its consumers' queues and no handler running."""
    async with runtime.db.session() as session:
        pending = (
            await session.execute(
                text(f"SELECT count(*) FROM {spec.schema}.outbox WHERE sent_at IS NULL")
            )
        ).scalar_one()
    consumers = [
        {
            "group": group,
            "backlog": await runtime.bus.backlog(group),
            "in_flight": runtime.in_flight.counts.get(group, 0),
        }
        for group in runtime.groups.get(spec.name, [])
    ]
    idle = pending == 0 and all(c["backlog"] == 0 and c["in_flight"] == 0 for c in consumers)
    return {"service": spec.name, "outbox_pending": pending, "consumers": consumers, "idle": idle}


def clock_status(runtime: Any) -> dict[str, Any]:
    """The process's business clock as the events status shows it."""
    return {"simulated": runtime.clock.simulated, "now": runtime.clock.now().isoformat()}


def events_status_router(spec: Any) -> APIRouter:
    """`GET /<prefix>/v1/events/status` (operator): one service's catch-up state."""
    router = APIRouter(tags=["events"])

    @router.get("/v1/events/status", summary="Outbox and consumer backlog of this service")
    async def events_status(request: Request, operator: Operator) -> dict[str, Any]:
        """`idle` is true when this service's outbox is empty, its consumers' queues are
        empty and no handler is running in the process that answers. A simulation (or a
        test) waits until every service answers idle twice in a row before it moves the
        clock (`govhub events wait`); operators see where events are stuck. `clock` is the
        answering process's business clock: `simulated` in simulation mode, and its time."""
        runtime = request.app.state.runtime
        return {**await service_events_status(runtime, spec), "clock": clock_status(runtime)}

    return router


def process_events_router() -> APIRouter:
    """`GET /events/status` (operator): every service this process hosts, in one call."""
    router = APIRouter(tags=["events"])

    @router.get("/events/status", summary="Outbox and consumer backlog of this process")
    async def events_status(request: Request, operator: Operator) -> dict[str, Any]:
        """Every service this process hosts, as `/<prefix>/v1/events/status` answers each;
        `idle` when all are. `clock` is the process's business clock."""
        runtime = request.app.state.runtime
        services = [
            await service_events_status(runtime, spec) for spec in runtime.services.values()
        ]
        return {
            "services": services,
            "idle": all(s["idle"] for s in services),
            "clock": clock_status(runtime),
        }

    return router
