"""Signing in and out, and the language switch."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from govhub_common.db import SessionDep
from govhub_common.persons import PersonClaims, local_person_id
from govhub_console.accounts.service import Policy, authenticate
from govhub_console.auth import service
from govhub_console.deps import (
    CheckedPerson,
    CsrfRefused,
    OptionalPerson,
    Settings,
    State,
    form_fields,
    submitted_token,
    visitor_locale,
)
from govhub_console.hub_api import TokenRefused
from govhub_console.i18n import known_locale
from govhub_console.pages import prefix_of, render
from govhub_console.security import (
    CSRF_FIELD,
    LOCALE_COOKIE,
    delete_cookie,
    login_cookie,
    login_csrf,
    new_secret,
    origin_allowed,
    return_path,
    same_token,
    session_cookie,
    set_cookie,
    token_hash,
)

router = APIRouter(include_in_schema=False)

# The sign-in form's pre-session cookie lives this long (a form left open longer is
# refused and shown again).
LOGIN_COOKIE_SECONDS = 3600
LOCALE_COOKIE_SECONDS = 365 * 24 * 3600


def _login_page(
    request: Request,
    settings: Settings,
    state: State,
    *,
    next_path: str,
    pending: str | None = None,
    error: str | None = None,
    status: int = 200,
    username: str = "",
) -> Response:
    pending = pending or request.cookies.get(login_cookie(settings)) or new_secret()
    response = render(
        request,
        "auth/login.html",
        locale=visitor_locale(request),
        csrf=login_csrf(state.login_key, pending),
        status=status,
        error=error,
        next_path=next_path,
        username=username,
    )
    set_cookie(response, settings, login_cookie(settings), pending, max_age=LOGIN_COOKIE_SECONDS)
    return response


def _check_login_csrf(request: Request, settings: Settings, state: State, given: str | None) -> str:
    """The pre-session cookie, if the form came from the console's own sign-in page."""
    pending = request.cookies.get(login_cookie(settings))
    if not origin_allowed(request, settings) or pending is None:
        raise CsrfRefused("sign-in from elsewhere")
    if not same_token(given, login_csrf(state.login_key, pending)):
        raise CsrfRefused("sign-in with a foreign token")
    return pending


@router.get("/login")
async def login_form(
    request: Request, settings: Settings, state: State, person: OptionalPerson, next: str = ""
) -> Response:
    next_path = return_path(next, prefix_of(request))
    if person is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, settings, state, next_path=next_path)


@router.post("/login")
async def login(
    request: Request,
    settings: Settings,
    state: State,
    session: SessionDep,
) -> Response:
    form = await form_fields(request, username=200, password=1024)
    pending = _check_login_csrf(request, settings, state, form.get(CSRF_FIELD))
    next_path = return_path(form.get("next"), prefix_of(request))
    username, password = form.get("username", ""), form.get("password", "")
    page = {"next_path": next_path, "pending": pending, "username": username}
    if not settings.console_local_accounts:
        return _login_page(
            request, settings, state, error="login.local_disabled", status=404, **page
        )
    now = service.wall_now()
    account = await authenticate(
        session,
        hasher=state.hasher,
        dummy_hash=state.dummy_hash,
        username=username.strip(),
        password=password,
        policy=Policy(
            max_failures=settings.console_login_max_failures,
            lockout=timedelta(seconds=settings.console_lockout_seconds),
        ),
        now=now,
    )
    if account is None:
        return _login_page(request, settings, state, error="login.failed", status=401, **page)
    person = PersonClaims(
        person=local_person_id(account.username),
        name=account.display_name,
        role=account.role,
        auth_time=int(now.timestamp()),
        agency=account.agency,
    )
    try:
        token = await state.hub_api().token_for(person)
    except TokenRefused:
        return _login_page(request, settings, state, error="login.unavailable", status=503, **page)
    # A session cookie the browser still had is replaced, its row with it (no fixation).
    old = request.cookies.get(session_cookie(settings))
    if old:
        await service.close_session(session, id_hash=token_hash(old))
    value, _row = await service.open_session(
        session,
        person=person,
        token=token,
        locale=visitor_locale(request),
        settings=settings,
        now=now,
    )
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(
        response,
        settings,
        session_cookie(settings),
        value,
        max_age=settings.console_session_max_seconds,
    )
    delete_cookie(response, settings, login_cookie(settings))
    return response


@router.post("/logout")
async def logout(
    request: Request, settings: Settings, session: SessionDep, person: CheckedPerson
) -> Response:
    await service.close_session(session, id_hash=person.id_hash)
    response = RedirectResponse(f"{prefix_of(request)}/login", status_code=303)
    delete_cookie(response, settings, session_cookie(settings))
    return response


@router.post("/locale")
async def switch_locale(
    request: Request,
    settings: Settings,
    state: State,
    session: SessionDep,
    person: OptionalPerson,
) -> Response:
    """Signed in: the session's locale (the form carries the session's CSRF token). Not yet:
    the sign-in form's token. Both keep the choice in a cookie for the next sign-in."""
    form = await form_fields(request)
    chosen = known_locale(form.get("locale"))
    if person is not None:
        if not origin_allowed(request, settings) or not same_token(
            await submitted_token(request), person.csrf
        ):
            raise CsrfRefused("locale switch from elsewhere")
        if chosen:
            await service.set_locale(session, id_hash=person.id_hash, locale=chosen)
    else:
        _check_login_csrf(request, settings, state, await submitted_token(request))
    response = RedirectResponse(return_path(form.get("next"), prefix_of(request)), status_code=303)
    if chosen:
        set_cookie(response, settings, LOCALE_COOKIE, chosen, max_age=LOCALE_COOKIE_SECONDS)
    return response
