"""Typed dependencies of the console's routes: the settings, the process's state, the
signed-in person (else a redirect to sign in) and the CSRF check of every POST."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from govhub_common.db import Database
from govhub_common.forms import is_form, read_form
from govhub_common.runtime import service_settings
from govhub_console.auth.models import ConsoleSession
from govhub_console.auth.service import find_session, wall_now
from govhub_console.i18n import known_locale, negotiate
from govhub_console.pages import console_state, prefix_of
from govhub_console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOCALE_COOKIE,
    origin_allowed,
    same_token,
    session_cookie,
)
from govhub_console.settings import ConsoleSettings
from govhub_console.state import ConsoleState

Settings = Annotated[ConsoleSettings, Depends(service_settings)]
State = Annotated[ConsoleState, Depends(console_state)]


class SignInRequired(Exception):
    """No live session: the person is sent to sign in, and back here afterwards."""

    def __init__(self, login: str) -> None:
        super().__init__(login)
        self.login = login


class CsrfRefused(Exception):
    """A state-changing request that did not come from the console's own page."""


def database(request: Request) -> Database:
    db: Database = request.app.state.runtime.db
    return db


DatabaseDep = Annotated[Database, Depends(database)]


async def optional_session(
    request: Request, settings: Settings, db: DatabaseDep
) -> ConsoleSession | None:
    return await find_session(
        db, request.cookies.get(session_cookie(settings)), settings, wall_now()
    )


OptionalPerson = Annotated[ConsoleSession | None, Depends(optional_session)]


def login_url(request: Request) -> str:
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{prefix_of(request)}/login?next={quote(back, safe='/')}"


async def current_session(request: Request, row: OptionalPerson) -> ConsoleSession:
    if row is None:
        raise SignInRequired(login_url(request))
    return row


Person = Annotated[ConsoleSession, Depends(current_session)]


# Longest value of the console's own form fields (a return path may be long).
FIELD_LIMITS = {CSRF_FIELD: 200, "next": 2000, "locale": 20}


async def form_fields(request: Request, **fields: int) -> dict[str, str]:
    """The posted form's fields (the common ones and `fields`: name -> longest value); a
    malformed form is refused (400) before anything reads it. An empty body is no fields."""
    if not is_form(request) and not await request.body():
        return {}
    return await read_form(request, {**FIELD_LIMITS, **fields})


async def submitted_token(request: Request) -> str | None:
    """The CSRF token of a form (hidden field) or of an htmx call (header)."""
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if not is_form(request):
        return None
    return (await form_fields(request)).get(CSRF_FIELD)


async def checked_session(request: Request, row: Person, settings: Settings) -> ConsoleSession:
    """The person of a POST that came from their own console page: same origin, and the
    session's synchroniser token in the form or the header."""
    if not origin_allowed(request, settings):
        raise CsrfRefused("foreign origin")
    if not same_token(await submitted_token(request), row.csrf):
        raise CsrfRefused("missing or foreign CSRF token")
    return row


CheckedPerson = Annotated[ConsoleSession, Depends(checked_session)]


def visitor_locale(request: Request) -> str:
    """The locale of someone not signed in: their choice (a cookie), else their browser's."""
    return known_locale(request.cookies.get(LOCALE_COOKIE)) or negotiate(
        request.headers.get("accept-language")
    )
