"""A request body's size, limited before anything reads it: before parsing, before the
token is checked, on every route of every service, in both run modes.

BodyLimitMiddleware wraps the whole hub (runtime.create_app puts it outermost). A body
whose Content-Length is over the limit is answered 413 `body_too_large` without reading a
byte of it; a streamed (chunked) body is counted as it arrives, and the 413 goes out as soon
as the count passes the limit, so at most the limit plus one chunk is ever held. The 413
closes the connection: the client stops sending the rest instead of the server draining it.

The limit is GOVHUB_MAX_BODY_BYTES, except on operations that declare their own with
`body_limit("<setting>")` in their `openapi_extra` (publish: `publish_max_bytes`); the
value is read from the service's settings when the app is built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from re import Pattern
from typing import Any

from fastapi import FastAPI
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, problem_json

# The `openapi_extra` key naming the service setting that holds an operation's own limit
# (the contract removes it from the document and declares the 413).
BODY_LIMIT_SETTING = "x-govhub-body-limit-setting"


def body_limit(setting: str) -> dict[str, str]:
    """For a route's `openapi_extra`: its body may be as large as the service's `setting`
    (bytes) instead of GOVHUB_MAX_BODY_BYTES."""
    return {BODY_LIMIT_SETTING: setting}


@dataclass(frozen=True)
class RouteLimit:
    """An operation's own limit: the full path's pattern (prefix included) and methods."""

    path: Pattern[str]
    methods: frozenset[str]
    max_bytes: int


def route_limits(app: FastAPI, *, prefix: str, settings: Any) -> list[RouteLimit]:
    """The own limits the operations of a service's app declare, read from its settings."""
    from govhub_common.contract import api_routes

    found = []
    for route in api_routes(app):
        setting = (route.openapi_extra or {}).get(BODY_LIMIT_SETTING)
        if setting is None:
            continue
        pattern, _, _ = compile_path(prefix + route.path)
        found.append(RouteLimit(pattern, frozenset(route.methods), int(getattr(settings, setting))))
    return found


class BodyTooLarge(Problem):
    """Raised to the app from `receive` once the body passed its limit (the 413 has been
    sent already; whatever the app answers after it is dropped)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            ProblemCode.BODY_TOO_LARGE,
            f"the request body is larger than this operation takes ({max_bytes} bytes at most)",
            headers={"Connection": "close"},
            limit=max_bytes,
        )


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, route_limits: Iterable[RouteLimit] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.route_limits: Sequence[RouteLimit] = list(route_limits)

    def limit_for(self, method: str, path: str) -> int:
        for limit in self.route_limits:
            if method in limit.methods and limit.path.match(path):
                return limit.max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > max_bytes:
            await _refuse(scope, receive, send, BodyTooLarge(max_bytes))
            return
        received = 0
        answered = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    problem = BodyTooLarge(max_bytes)
                    if not started and not answered:
                        answered = True
                        await _refuse(scope, receive, send, problem)
                    raise problem
            return message

        async def guarded_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if answered:
                return  # the 413 went out; the app's own answer to the exception is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not answered:
                raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            # The server refuses a malformed Content-Length itself; digits only here (and
            # no int() of thousands of them).
            if not value.isdigit():
                return None
            return int(value) if len(value) <= 18 else 2**63
    return None


# How long a refused body is still read (and dropped) before the connection closes.
LINGER_SECONDS = 2.0


async def _refuse(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
    """The 413, then a lingering close (as nginx does): what the client is still sending is
    read and dropped for LINGER_SECONDS, so that it can read the answer before the
    connection closes (closing on unread data resets the connection, and a reset can
    discard the answer on the client's side). Nothing read is kept."""
    body, headers = problem_json(scope, problem)
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": True})
    try:
        async with asyncio.timeout(LINGER_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
    except TimeoutError:
        pass
    await send({"type": "http.response.body", "body": b""})
