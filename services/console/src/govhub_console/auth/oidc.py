"""Sign-in through the city's OpenID Connect provider: the authorization code flow with
PKCE (S256), state and nonce, as a confidential client (GOVHUB_CONSOLE_OIDC_CLIENT_SECRET)
or a public one.

1. `start`: a pending sign-in (state, code verifier, nonce, where to return) is stored in
   console.pending_logins under the hash of a random value that only a short-lived cookie of
   the browser holds; the browser goes to the provider's authorization endpoint, with
   `max_age` so that the provider re-authenticates a person whose sign-in there is older
   than a console session may be (the exchange refuses those).
2. `finish` (the callback): the pending sign-in is taken (deleted: one use) and its state
   compared; the code is exchanged, with the code verifier, at the provider's token
   endpoint; the ID token's nonce must be the pending one; then the exchange verifies the
   ID token and gives the person's access token (RFC 8693).

Who verifies the ID token: the exchange, alone. It checks the signature against the
provider's keys, the issuer, the audience (our client id) and the expiry for every console,
so the console keeps no second copy of the provider's keys. The console reads the nonce
from the same bytes it then hands to the exchange, and signs the person in only if the
exchange accepts them: a token whose nonce was altered fails the exchange's signature
check, a genuine token of another sign-in fails the nonce check here and is never
exchanged. (The token also came straight from the provider's token endpoint over TLS, with
the console's client authentication: OpenID Connect Core 3.1.3.7 lets a client rely on
that alone.)
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client import OAuthError as AuthlibOAuthError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.db import Database
from govhub_common.persons import (
    AUTH_TIME_CLAIM,
    PERSON_CLAIM,
    PERSON_NAME_CLAIM,
    ROLE_CLAIM,
    PersonClaims,
)
from govhub_console.auth.models import PendingLogin
from govhub_console.hub_api import HubApi, PersonToken, TokenRefused
from govhub_console.security import new_secret, token_hash
from govhub_console.settings import ConsoleSettings

# A sign-in left at the provider's page longer than this starts again.
PENDING_SECONDS: Final = 600
# The provider's discovery document is fetched again after this long.
DISCOVERY_SECONDS: Final = 300.0
TIMEOUT_SECONDS: Final = 10.0
CALLBACK_PATH: Final = "/auth/callback"


def pending_cookie(settings: ConsoleSettings) -> str:
    """The browser's half of a pending sign-in (see security.session_cookie for the prefix)."""
    return "__Host-govhub-console-oidc" if settings.console_cookie_secure else "govhub-console-oidc"


class SignInFailed(Exception):
    """The sign-in cannot complete: `message` is the catalog key of what the person reads,
    `detail` the exchange's own words when it refused them (shown; never a token),
    `reason` what only the log gets."""

    def __init__(
        self,
        message: str,
        status: int,
        *,
        detail: str | None = None,
        reason: str | None = None,
        **params: str,
    ) -> None:
        super().__init__(f"{message}: {detail or reason or params or ''}")
        self.message = message
        self.status = status
        self.detail = detail
        self.params = params


@dataclass(frozen=True)
class Provider:
    """The endpoints of the provider's discovery document that the console uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None


class _Discovery:
    """The provider's discovery document, per issuer, kept DISCOVERY_SECONDS."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, Provider]] = {}
        self._lock = asyncio.Lock()

    async def get(self, issuer: str, *, https_only: bool) -> Provider:
        async with self._lock:
            cached = self._known.get(issuer)
            if cached is not None and time.monotonic() - cached[0] < DISCOVERY_SECONDS:
                return cached[1]
            provider = await _discover(issuer, https_only=https_only)
            self._known[issuer] = (time.monotonic(), provider)
            return provider


DISCOVERY = _Discovery()


async def _discover(issuer: str, *, https_only: bool) -> Provider:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            reply = await client.get(url, headers={"Accept": "application/json"})
            reply.raise_for_status()
            body = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SignInFailed("auth.oidc_unavailable", 503, reason=type(exc).__name__) from None
    if not isinstance(body, dict) or body.get("issuer") != issuer:
        # Another provider's document (or a mix-up): nothing of it is trusted.
        raise SignInFailed("auth.oidc_unavailable", 503, reason="discovery names another issuer")

    def endpoint(name: str, required: bool = True) -> str | None:
        value = body.get(name)
        schemes = ("https://",) if https_only else ("https://", "http://")
        if isinstance(value, str) and value.startswith(schemes):
            return value
        if required:
            raise SignInFailed("auth.oidc_unavailable", 503, reason=f"no usable {name}")
        return None

    return Provider(
        issuer=issuer,
        authorization_endpoint=str(endpoint("authorization_endpoint")),
        token_endpoint=str(endpoint("token_endpoint")),
        end_session_endpoint=endpoint("end_session_endpoint", required=False),
    )


async def provider(settings: ConsoleSettings) -> Provider:
    if not settings.console_oidc_issuer:
        raise SignInFailed("auth.oidc_off", 404)
    return await DISCOVERY.get(settings.console_oidc_issuer, https_only=not settings.is_development)


def console_base(settings: ConsoleSettings, scheme: str, host: str, prefix: str) -> str:
    """The console's address as the browser sees it: GOVHUB_CONSOLE_PUBLIC_URL's origin
    (whether or not it names the path), else the request's own (development)."""
    if settings.console_public_url:
        public = urlsplit(settings.console_public_url)
        scheme, host = public.scheme, public.netloc
    return f"{scheme}://{host}{prefix}"


def _oauth_client(settings: ConsoleSettings, redirect_uri: str) -> AsyncOAuth2Client:
    secret = settings.console_oidc_client_secret
    scopes = settings.console_oidc_scopes.split()
    return AsyncOAuth2Client(
        client_id=settings.console_oidc_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        # A public client sends its id in the form; PKCE is what protects its code.
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        scope=" ".join(["openid", *[s for s in scopes if s != "openid"]]),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=TIMEOUT_SECONDS,
    )


async def start(
    session: AsyncSession,
    *,
    settings: ConsoleSettings,
    base: str,
    return_to: str,
    now: datetime,
) -> tuple[str, str]:
    """A pending sign-in: the value of its cookie and the provider's authorization URL."""
    idp = await provider(settings)
    redirect_uri = base + CALLBACK_PATH
    state, nonce, verifier = new_secret(), new_secret(), generate_token(64)
    async with _oauth_client(settings, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            idp.authorization_endpoint,
            state=state,
            code_verifier=verifier,
            nonce=nonce,
            max_age=str(settings.console_session_max_seconds),
        )
    value = new_secret()
    session.add(
        PendingLogin(
            id_hash=token_hash(value),
            state=state,
            code_verifier=verifier,
            nonce=nonce,
            return_to=return_to,
            redirect_uri=redirect_uri,
            expires_at=now + timedelta(seconds=PENDING_SECONDS),
        )
    )
    await session.flush()
    return value, str(url)


async def take_pending(db: Database, value: str | None) -> PendingLogin | None:
    """The pending sign-in of a cookie's value, deleted in a transaction of its own that
    commits whatever the callback then meets: one use, even by two callbacks racing."""
    if not value:
        return None
    async with db.session() as session:
        return (
            await session.execute(
                sa.delete(PendingLogin)
                .where(col(PendingLogin.id_hash) == token_hash(value))
                .returning(PendingLogin)
            )
        ).scalar_one_or_none()


@dataclass(frozen=True)
class SignedIn:
    person: PersonClaims
    token: PersonToken
    id_token: str
    return_to: str


def _person_of(token: PersonToken) -> PersonClaims:
    """Who the exchange issued the token for. Read without checking the signature: the
    token came straight from the exchange, and every service checks it on use."""
    claims: dict[str, Any] = jwt.decode(token.access_token, options={"verify_signature": False})
    return PersonClaims(
        person=str(claims[PERSON_CLAIM]),
        name=str(claims[PERSON_NAME_CLAIM]),
        role=str(claims[ROLE_CLAIM]),
        auth_time=int(claims[AUTH_TIME_CLAIM]),
        agency=str(claims["sub"]),
    )


def _nonce_of(id_token: str) -> str | None:
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    nonce = claims.get("nonce")
    return nonce if isinstance(nonce, str) else None


async def finish(
    pending: PendingLogin | None,
    *,
    settings: ConsoleSettings,
    api: HubApi,
    params: dict[str, str],
    now: datetime,
) -> SignedIn:
    """The callback's query `params` for a pending sign-in (taken by take_pending): the
    person signed in, with their access token, or SignInFailed."""
    if pending is None or pending.expires_at <= now:
        raise SignInFailed("auth.oidc_expired", 400)
    # An error answer without state (some providers drop it on "deny") still ends the
    # sign-in: it is a refusal page either way, and the pending sign-in is spent.
    state_given = "state" in params or "error" not in params
    if state_given and not hmac.compare_digest(
        params.get("state", "").encode(), pending.state.encode()
    ):
        raise SignInFailed("auth.oidc_state", 400)
    idp = await provider(settings)
    # RFC 9207: a provider that names itself must be ours (no mix-up with another one).
    if "iss" in params and params["iss"] != idp.issuer:
        raise SignInFailed("auth.oidc_state", 400)
    if "error" in params:
        # The person declined, or the provider refused: its error code, never its free text
        # (which the address bar let anyone write).
        error = params["error"] if params["error"].replace("_", "").isalnum() else "error"
        raise SignInFailed("auth.oidc_denied", 403, error=error[:64])
    code = params.get("code")
    if not code:
        raise SignInFailed("auth.oidc_failed", 400)
    try:
        async with _oauth_client(settings, pending.redirect_uri) as client:
            tokens = await client.fetch_token(
                idp.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
                redirect_uri=pending.redirect_uri,
            )
    except AuthlibOAuthError as exc:
        raise SignInFailed("auth.oidc_failed", 502, reason=str(exc.error)) from None
    except (httpx.HTTPError, ValueError) as exc:
        raise SignInFailed("auth.oidc_unavailable", 503, reason=type(exc).__name__) from None
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed("auth.oidc_failed", 502, reason="the provider gave no ID token")
    nonce = _nonce_of(id_token)
    if nonce is None or not hmac.compare_digest(nonce.encode(), pending.nonce.encode()):
        raise SignInFailed("auth.oidc_nonce", 400)
    try:
        token = await api.token_for_id_token(id_token)
    except TokenRefused as exc:
        if exc.status >= 500:
            raise SignInFailed("auth.oidc_unavailable", 503) from None
        # The exchange's words say which: an unknown agency, no role of the hub's, a
        # disabled agency, a sign-in too old.
        raise SignInFailed("auth.oidc_refused", 403, detail=exc.detail) from None
    return SignedIn(
        person=_person_of(token), token=token, id_token=id_token, return_to=pending.return_to
    )


async def logout_url(settings: ConsoleSettings, *, id_token: str, after: str) -> str | None:
    """Where the browser ends the person's sign-in at the provider too (RP-initiated
    logout), coming back to `after`; None when the provider offers no such endpoint or
    cannot be reached (the console's own session is ended anyway)."""
    try:
        idp = await provider(settings)
    except SignInFailed:
        return None
    if idp.end_session_endpoint is None:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": after,
            "client_id": settings.console_oidc_client_id,
        }
    )
    separator = "&" if "?" in idp.end_session_endpoint else "?"
    return f"{idp.end_session_endpoint}{separator}{query}"
