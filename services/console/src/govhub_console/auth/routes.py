"""Signing in and out, and the language switch."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import SessionDep
from govhub_common.persons import PersonClaims, local_person_id
from govhub_console.accounts.service import Policy, authenticate
from govhub_console.auth import oidc, service
from govhub_console.deps import (
    CheckedPerson,
    CsrfRefused,
    DatabaseDep,
    OptionalPerson,
    Settings,
    State,
    form_fields,
    submitted_token,
    visitor_locale,
)
from govhub_console.hub_api import PersonToken, TokenRefused
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
log = logging.getLogger("govhub.console")

# The sign-in form's pre-session cookie lives this long (a form left open longer is
# refused and shown again).
LOGIN_COOKIE_SECONDS = 3600
LOCALE_COOKIE_SECONDS = 365 * 24 * 3600
# What the provider's answer may carry (RFC 6749 4.1.2, RFC 9207); the rest is ignored.
CALLBACK_PARAMS = frozenset({"code", "state", "iss", "error"})


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
    return await _signed_in(
        request, settings, session, person=person, token=token, next_path=next_path, now=now
    )


async def _signed_in(
    request: Request,
    settings: Settings,
    session: AsyncSession,
    *,
    person: PersonClaims,
    token: PersonToken,
    next_path: str,
    now: datetime,
    id_token: str | None = None,
) -> Response:
    """A new session for a person just signed in (either way), and on to where they were
    going."""
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
        id_token=id_token,
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
    delete_cookie(response, settings, oidc.pending_cookie(settings))
    return response


def _oidc_error(request: Request, settings: Settings, failed: oidc.SignInFailed) -> Response:
    log.warning("sign-in through the identity provider failed: %s", failed)
    response = render(
        request,
        "auth/oidc_error.html",
        locale=visitor_locale(request),
        csrf="",
        status=failed.status,
        message=failed.message,
        params=failed.params,
        detail=failed.detail,
    )
    delete_cookie(response, settings, oidc.pending_cookie(settings))
    return response


@router.get("/login/oidc")
async def oidc_login(
    request: Request,
    settings: Settings,
    session: SessionDep,
    person: OptionalPerson,
    next: str = "",
) -> Response:
    """The link "sign in with the city's account": on to the provider. A link, not a form:
    browsers apply the CSP form-action to a form's redirects, and the provider is another
    origin."""
    prefix = prefix_of(request)
    next_path = return_path(next, prefix)
    if person is not None:
        return RedirectResponse(next_path, status_code=303)
    try:
        value, url = await oidc.start(
            session,
            settings=settings,
            base=oidc.console_base(settings, request.url.scheme, request.url.netloc, prefix),
            return_to=next_path,
            now=service.wall_now(),
        )
    except oidc.SignInFailed as failed:
        return _oidc_error(request, settings, failed)
    response = RedirectResponse(url, status_code=303)
    set_cookie(
        response, settings, oidc.pending_cookie(settings), value, max_age=oidc.PENDING_SECONDS
    )
    return response


@router.get("/auth/callback")
async def oidc_callback(
    request: Request, settings: Settings, state: State, db: DatabaseDep, session: SessionDep
) -> Response:
    """Where the provider sends the browser back, with a code (or an error)."""
    now = service.wall_now()
    pending = await oidc.take_pending(db, request.cookies.get(oidc.pending_cookie(settings)))
    params = {k: v for k, v in request.query_params.items() if k in CALLBACK_PARAMS}
    try:
        done = await oidc.finish(
            pending, settings=settings, api=state.hub_api(), params=params, now=now
        )
    except oidc.SignInFailed as failed:
        return _oidc_error(request, settings, failed)
    return await _signed_in(
        request,
        settings,
        session,
        person=done.person,
        token=done.token,
        next_path=done.return_to,
        now=now,
        id_token=done.id_token,
    )


@router.post("/logout")
async def logout(
    request: Request, settings: Settings, session: SessionDep, person: CheckedPerson
) -> Response:
    await service.close_session(session, id_hash=person.id_hash)
    prefix = prefix_of(request)
    response: Response = RedirectResponse(f"{prefix}/login", status_code=303)
    if person.id_token and settings.console_oidc_issuer:
        base = oidc.console_base(settings, request.url.scheme, request.url.netloc, prefix)
        url = await oidc.logout_url(settings, id_token=person.id_token, after=f"{base}/login")
        if url is not None:
            # A page that moves on by itself (the Refresh header, with a link besides), not
            # a redirect: browsers apply the CSP form-action to the redirects of this form's
            # POST, and the provider is another origin.
            response = render(
                request, "auth/signed_out.html", locale=person.locale, csrf="", logout_url=url
            )
            response.headers["Refresh"] = f"0; url={url}"
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
