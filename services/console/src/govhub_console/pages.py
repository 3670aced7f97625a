"""Rendering a page: the template with the words of the person's locale, the CSRF token,
the person and the menu."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from govhub_console.i18n import LOCALES
from govhub_console.security import CSRF_FIELD, CSRF_HEADER
from govhub_console.state import ConsoleState


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.context.state
    return state


def prefix_of(request: Request) -> str:
    """Where the console is mounted (/console), as the request went through it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(
    request: Request,
    name: str,
    *,
    locale: str,
    csrf: str,
    status: int = 200,
    person: Any = None,
    **context: Any,
) -> HTMLResponse:
    state = console_state(request)
    settings = request.app.state.settings
    prefix = prefix_of(request)
    html = state.templates.get_template(name).render(
        t=partial(state.catalogs.text, locale),
        locale=locale,
        locales=LOCALES,
        csrf=csrf,
        csrf_field=CSRF_FIELD,
        csrf_header=CSRF_HEADER,
        person=person,
        prefix=prefix,
        here=request.url.path,
        oidc=bool(settings.console_oidc_issuer),
        local_accounts=settings.console_local_accounts,
        **context,
    )
    return HTMLResponse(html, status_code=status)
