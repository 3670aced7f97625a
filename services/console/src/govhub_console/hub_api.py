"""The console's client of the other services' public APIs. Every call carries the
signed-in person's own access token, so the console sees what the API gives that person and
nothing more.

All-in-one, the calls go straight into the process's outermost app (no socket, every
middleware on the way); apart from the services (split mode), to GOVHUB_CONSOLE_HUB_URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from govhub_common.hub_urls import async_hub_client
from govhub_common.logs import request_id_var
from govhub_common.persons import (
    ACCESS_TOKEN_TYPE,
    CONSOLE_CLIENT_ID,
    ID_TOKEN_TYPE,
    LOCAL_PERSON_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    PersonClaims,
    encode_local_assertion,
)
from govhub_common.runtime import ConfigurationError, Runtime
from govhub_common.service import discover_services
from govhub_console.settings import ConsoleSettings

TOKEN_PATH = "/exchange/v1/oauth/token"
# A person's token is renewed when this share of its lifetime has passed.
RENEW_AT = 0.6


class TokenRefused(Exception):
    """The exchange gave no token (unknown agency, account off, renewal past the maximum,
    the exchange unreachable): the person cannot be signed in, or stays signed out."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class PersonToken:
    access_token: str
    issued_at: datetime
    expires_at: datetime

    @property
    def renew_after(self) -> datetime:
        return self.issued_at + (self.expires_at - self.issued_at) * RENEW_AT


def renewal_due(token: str, expires_at: datetime, now: datetime) -> bool:
    """Has 60% of the token's lifetime passed? Its `iat` is read without checking the
    signature: the console only schedules with it, the services check the token."""
    try:
        issued = datetime.fromtimestamp(
            int(jwt.decode(token, options={"verify_signature": False})["iat"]), UTC
        )
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        return now >= expires_at - timedelta(seconds=60)
    return now >= issued + (expires_at - issued) * RENEW_AT


def hosts_every_service(runtime: Runtime) -> bool:
    return set(discover_services()) <= set(runtime.services)


def check_reachable(runtime: Runtime, settings: ConsoleSettings) -> None:
    """Refuse a console that could reach no API: apart from the services and no URL."""
    if not hosts_every_service(runtime) and not settings.console_hub_url:
        raise ConfigurationError(
            "the console runs apart from the other services: set GOVHUB_CONSOLE_HUB_URL to "
            "where it reaches their APIs (one URL, or /exchange=http://...,/alerting=...)"
        )


def make_client(runtime: Runtime, settings: ConsoleSettings) -> httpx.AsyncClient:
    if settings.console_hub_url:
        return async_hub_client(settings.console_hub_url, timeout=30)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.root), base_url="http://govhub", timeout=30
    )


class HubApi:
    def __init__(self, client: httpx.AsyncClient, client_secret: str) -> None:
        self.client = client
        self._secret = client_secret

    @staticmethod
    def _headers(token: str | None = None) -> dict[str, str]:
        headers = {}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _exchange(self, subject_token: str, subject_token_type: str) -> PersonToken:
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": subject_token_type,
        }
        now = datetime.now(UTC)
        try:
            reply = await self.client.post(
                TOKEN_PATH,
                data=form,
                auth=(CONSOLE_CLIENT_ID, self._secret),
                headers=self._headers(),
            )
        except httpx.HTTPError as exc:
            raise TokenRefused(503, f"the exchange is unreachable: {type(exc).__name__}") from exc
        if reply.status_code != 200:
            try:
                detail = str(reply.json().get("detail") or reply.json().get("code"))
            except ValueError:
                detail = reply.text[:200]
            raise TokenRefused(reply.status_code, detail)
        body = reply.json()
        return PersonToken(
            access_token=str(body["access_token"]),
            issued_at=now,
            expires_at=now + timedelta(seconds=int(body["expires_in"])),
        )

    async def token_for(self, person: PersonClaims) -> PersonToken:
        """A person signed in with a local account: the console vouches for them."""
        assertion = encode_local_assertion(person, self._secret)
        return await self._exchange(assertion, LOCAL_PERSON_TOKEN_TYPE)

    async def token_for_id_token(self, id_token: str) -> PersonToken:
        """A person signed in with the city's identity provider: the exchange verifies the
        ID token and maps its claims to the agency and role."""
        return await self._exchange(id_token, ID_TOKEN_TYPE)

    async def renew(self, token: str) -> PersonToken:
        return await self._exchange(token, ACCESS_TOKEN_TYPE)

    async def request(self, method: str, path: str, *, token: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self._headers(token)}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def aclose(self) -> None:
        await self.client.aclose()
