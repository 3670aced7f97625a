"""The console answers people with pages, not problem+json: its own error pages, the
redirect to sign in, and the refusal of a request from elsewhere (CSRF). The runtime's JSON
operations under /v1/ (whoami, events status, dead letters) answer machines and keep their
problem+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from govhub_common.problems import Problem
from govhub_console.auth.service import SignedOut
from govhub_console.deps import CsrfRefused, SignInRequired, login_url, visitor_locale
from govhub_console.pages import prefix_of, render

MESSAGES = {400: "error.bad_request", 403: "error.csrf", 404: "error.not_found"}

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    return render(
        request,
        "error.html",
        locale=visitor_locale(request),
        csrf="",
        status=status,
        message=message or MESSAGES.get(status, "error.generic"),
    )


def _sign_in(request: Request, login: str) -> Response:
    if request.headers.get("hx-request") == "true":
        # htmx swaps what it gets: have it load the sign-in page as a whole instead.
        return Response(status_code=401, headers={"HX-Redirect": login})
    return RedirectResponse(login, status_code=303)


def _status_of(exc: Exception) -> tuple[int, dict[str, str]]:
    if isinstance(exc, Problem):
        return exc.status, dict(exc.headers or {})
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, dict(exc.headers or {})
    return 400, {}  # RequestValidationError: a malformed query or form


def install_error_pages(app: FastAPI) -> None:
    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return _sign_in(request, exc.login)

    async def signed_out(request: Request, exc: Exception) -> Response:
        return _sign_in(request, login_url(request))

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return error_page(request, 403, "error.csrf")

    def as_page(json_handler: Handler) -> Handler:
        async def handler(request: Request, exc: Exception) -> Response:
            if request.url.path.startswith(prefix_of(request) + "/v1/"):
                answer = json_handler(request, exc)
                return answer if isinstance(answer, Response) else await answer
            status, headers = _status_of(exc)
            response = error_page(request, status)
            response.headers.update(headers)
            return response

        return handler

    for kind in (Problem, StarletteHTTPException, RequestValidationError):
        app.add_exception_handler(kind, as_page(app.exception_handlers[kind]))
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(SignedOut, signed_out)
    app.add_exception_handler(CsrfRefused, csrf_refused)
