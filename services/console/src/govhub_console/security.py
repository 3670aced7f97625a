"""What keeps the console's pages safe in a browser: the response headers (a strict
Content-Security-Policy: no inline script or style anywhere), the session cookie's form,
CSRF tokens and the Origin check, and the addresses a sign-in may return to."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from govhub_console.settings import ConsoleSettings

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
# Pages carry people's cases and tokens in forms: never kept by a browser or a proxy.
NO_STORE: Final = "no-store"

CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
LOCALE_COOKIE: Final = "govhub-console-locale"


class SecurityHeadersMiddleware:
    """Adds the security headers to every response of the console (pages, static files,
    errors); Cache-Control no-store unless the response chose its own (static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [(name.encode(), value.encode()) for name, value in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self._headers if n not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", NO_STORE.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def session_cookie(settings: ConsoleSettings) -> str:
    """`__Host-` binds the cookie to this host, https and path / (no subdomain or path can
    set or shadow it); browsers accept the prefix only on Secure cookies."""
    return "__Host-govhub-console" if settings.console_cookie_secure else "govhub-console"


def login_cookie(settings: ConsoleSettings) -> str:
    """The pre-session cookie the sign-in form's CSRF token is bound to."""
    return (
        "__Host-govhub-console-login" if settings.console_cookie_secure else "govhub-console-login"
    )


def set_cookie(
    response: Response, settings: ConsoleSettings, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.console_cookie_secure,
        httponly=True,
        samesite="lax",
    )


def delete_cookie(response: Response, settings: ConsoleSettings, name: str) -> None:
    response.delete_cookie(
        name, path="/", secure=settings.console_cookie_secure, httponly=True, samesite="lax"
    )


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def token_hash(value: str) -> str:
    """The stored key of a cookie's value (sessions, pending sign-ins)."""
    return hashlib.sha256(value.encode()).hexdigest()


def login_csrf(key: bytes, pending: str) -> str:
    """The sign-in form's CSRF token: bound to the pre-session cookie by a MAC only this
    hub can compute, so another site can neither read nor forge it."""
    return hmac.new(key, b"login-csrf:" + pending.encode(), hashlib.sha256).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def origin_allowed(request: Request, settings: ConsoleSettings) -> bool:
    """A state-changing request must come from the console's own pages: its Origin (sent by
    every current browser on a POST) is the console's, and Sec-Fetch-Site, when sent, does
    not say another site. A request without either is judged by its CSRF token alone."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    if settings.console_public_url:
        public = urlsplit(settings.console_public_url)
        return origin.rstrip("/") == f"{public.scheme}://{public.netloc}"
    # Behind a proxy that ends TLS the request's own scheme is http: compare the host.
    host = request.headers.get("host")
    return host is not None and urlsplit(origin).netloc == host


def return_path(value: str | None, prefix: str) -> str:
    """Where a sign-in may send the person back to: a path of the console only (never
    another site, `//host` or a backslash trick), else the console's home."""
    home = prefix + "/"
    if not value or not value.startswith(prefix + "/") or value.startswith("//"):
        return home
    if any(c in value for c in ("\\", "\r", "\n", "\t")) or "//" in value:
        return home
    return value
