"""RFC 9457 problem details for every error a client can see."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from govhub_common.faults import Fault, transient_fault
from govhub_common.problem_codes import CATALOGUE, ProblemCode

log = logging.getLogger("govhub.problems")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _phrase(status: int) -> str:
    """The status's reason phrase, for one the table above does not name."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProblemResponse(Response):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class Problem(Exception):
    """Raise anywhere in a request to answer with problem+json."""

    def __init__(
        self,
        code: ProblemCode,
        detail: str,
        *,
        status: int | None = None,
        title: str | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        # The catalogue's status, unless an HTTP error passed through says otherwise.
        self.status = status if status is not None else CATALOGUE[code][0]
        self.code = code
        self.detail = detail
        self.title = title or _TITLES.get(self.status) or _phrase(self.status)
        self.errors = list(errors) if errors else None
        self.headers = headers
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://govhub.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def not_found(what: str, key: object) -> Problem:
    return Problem(ProblemCode.NOT_FOUND, f"{what} {key!s} does not exist")


def forbidden(detail: str) -> Problem:
    return Problem(ProblemCode.FORBIDDEN, detail)


def json_path(loc: Sequence[str | int]) -> str:
    """('body', 'records', 3, 'uscc') -> '$.records[3].uscc' (the request part is dropped)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where = parts.pop(0)
        prefix = "$" if where == "body" else f"{where}:$"
    else:
        prefix = "$"
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "path": json_path(err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in errors
    ]


def _respond(request: Request, problem: Problem) -> ProblemResponse:
    return ProblemResponse(
        problem.body(instance=request.url.path), status_code=problem.status, headers=problem.headers
    )


def problem_json(scope: Any, problem: Problem) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A problem's body and headers, for ASGI middleware that answers before any route."""
    body = orjson.dumps(problem.body(instance=scope.get("path")))
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (problem.headers or {}).items()]
    return body, headers


async def send_problem(scope: Any, send: Any, problem: Problem) -> None:
    """Answer with a problem from ASGI middleware, before any route (and its handlers)."""
    body, headers = problem_json(scope, problem)
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> ProblemResponse:
        return _respond(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors = validation_errors(exc.errors())
        fields = ", ".join(e["path"] for e in errors[:5])
        problem = Problem(
            ProblemCode.VALIDATION_FAILED, f"invalid input at {fields}", errors=errors
        )
        return _respond(request, problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        code = {404: ProblemCode.NOT_FOUND, 405: ProblemCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ProblemCode.HTTP_ERROR
        )
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405 and isinstance(request.app, FastAPI):
            from govhub_common.methods import allowed_methods, route_path

            allowed = allowed_methods(request.app, route_path(request))
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        problem = Problem(code, str(exc.detail), status=exc.status_code, headers=headers)
        return _respond(request, problem)

    async def _infrastructure(request: Request, exc: Exception) -> ProblemResponse:
        fault = transient_fault(exc)
        if fault is None:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return _respond(request, internal_error())
        log.warning(
            "%s unavailable on %s %s (%s: %s)",
            fault,
            request.method,
            request.url.path,
            type(exc).__name__,
            exc,
        )
        return _respond(request, unavailable(fault))

    # By class, so that these are answered where the app's other errors are (Starlette
    # re-raises what reaches the catch-all below to the server, which drops the connection).
    for kind in _infrastructure_errors():
        app.add_exception_handler(kind, _infrastructure)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> ProblemResponse:
        # Also reached from middleware outside the class handlers (the registry's lookups).
        if transient_fault(exc) is not None:
            return await _infrastructure(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _respond(request, internal_error())


def _infrastructure_errors() -> tuple[type[Exception], ...]:
    """What the database and broker clients raise (transient_fault tells which pass)."""
    import aiormq.exceptions
    import asyncpg
    from sqlalchemy import exc as sa_exc

    return (
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        aiormq.exceptions.AMQPError,
        OSError,
    )


def internal_error() -> Problem:
    return Problem(ProblemCode.INTERNAL_ERROR, "an internal error occurred; it has been logged")


# Long enough for a database failover or a broker restart, short enough to keep clients near.
RETRY_AFTER_SECONDS = 5


def unavailable(fault: Fault) -> Problem:
    """503: the part the request needs is unreachable for now; the same request may succeed
    later (a client can tell this from a bug, and back off)."""
    what = {"database": "the database", "broker": "the message broker"}[fault]
    return Problem(
        ProblemCode(f"{fault}_unavailable"),
        f"{what} is unreachable at the moment; retry after {RETRY_AFTER_SECONDS} seconds",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
