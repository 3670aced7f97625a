"""Signing in through the city's identity provider (OpenID Connect, authorization code with
PKCE), against the real mock provider: the person lands in a session of their agency and
role; PKCE S256, state and nonce hold; a callback is used once; what the exchange or the
provider refuses is a readable page; logout ends the sign-in at the provider too."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import col

from govhub_common.testing import Hub
from govhub_console.auth.models import ConsoleSession
from govhub_console.settings import ConsoleSettings
from govhub_exchange.identity.oidc import OidcProvider
from tests.console.auth.oidc_support import RecordingProvider, running_provider
from tests.console.support import BASE, csrf_of
from tests.exchange.support import make_agency

CLIENT_ID = "govhub-console"
CLIENT_SECRET = "the-consoles-secret-at-the-provider"
PENDING_COOKIE = "__Host-govhub-console-oidc"


@pytest.fixture(scope="module")
def idp() -> Iterator[RecordingProvider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture
def sso(
    hub: Hub,
    idp: RecordingProvider,
    console_settings: ConsoleSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> RecordingProvider:
    """The running hub with single sign-on through `idp`: the console's settings, and the
    exchange's (settings and the provider whose ID tokens it verifies)."""
    idp.reset()
    monkeypatch.setattr(console_settings, "console_oidc_issuer", idp.url)
    monkeypatch.setattr(console_settings, "console_oidc_client_secret", SecretStr(CLIENT_SECRET))
    exchange = hub.runtime.context("exchange")
    monkeypatch.setattr(exchange.settings, "console_oidc_issuer", idp.url)
    monkeypatch.setattr(
        exchange.state,
        "oidc",
        OidcProvider(issuer=idp.url, cache_seconds=300, timeout_seconds=5, https_only=False),
    )
    return idp


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def register(idp: RecordingProvider, sub: str, claims: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=idp.url) as client:
        assert (await client.put(f"/users/{sub}", json=claims)).status_code == 204


async def at_the_provider(authorize_url: str, sub: str | None) -> str:
    """The person at the provider's page: signs in as `sub` (None: declines). Where the
    provider sends the browser back."""
    async with httpx.AsyncClient() as browser_at_idp:
        form = await browser_at_idp.get(authorize_url)
        assert form.status_code == 200, form.text
        data = {"sub": sub} if sub is not None else {"action": "deny"}
        answer = await browser_at_idp.post(authorize_url, data=data)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def to_callback(
    client: httpx.AsyncClient, idp: RecordingProvider, sub: str | None, next_path: str = ""
) -> str:
    """From the console's link to the provider and back: the callback URL (not yet opened)."""
    params = {"next": next_path} if next_path else {}
    started = await client.get("/console/login/oidc", params=params)
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith(f"{idp.url}/oauth2/authorize?"), location
    callback = await at_the_provider(location, sub)
    assert callback.startswith(f"{BASE}/console/auth/callback?"), callback
    return callback


def person_claims(agency: str, role: str = "case_officer", name: str = "陈静") -> dict[str, Any]:
    return {"name": name, "govhub_agency": agency, "realm_access": {"roles": [role]}}


async def sessions_of(hub: Hub, person: str) -> list[ConsoleSession]:
    async with hub.runtime.db.session() as session:
        rows = await session.execute(
            sa.select(ConsoleSession).where(col(ConsoleSession.person) == person)
        )
        return list(rows.scalars())


async def exchanged_for(hub: Hub, agency: str) -> list[dict[str, Any]]:
    """The exchange's audit of person tokens issued for the agency's people."""
    reply = await hub.client.get(
        "/exchange/v1/audit",
        params={"agency": agency, "action": "token.exchanged"},
        headers=hub.operator(),
    )
    assert reply.status_code == 200, reply.text
    entries: list[dict[str, Any]] = reply.json()["data"]
    return entries


def alert_of(page: str) -> str:
    start = page.index('role="alert"')
    return page[start : page.index("</p>", start)]


async def test_a_person_signs_in_with_the_city_account(
    hub: Hub, sso: RecordingProvider, client: httpx.AsyncClient
) -> None:
    agency = await make_agency(hub, "广州市地方税务局")
    sub = uuid.uuid4().hex
    await register(sso, sub, person_claims(agency, "case_officer", "陈静"))

    login = await client.get("/console/login")
    assert 'href="/console/login/oidc?next=/console/"' in login.text
    callback = await to_callback(client, sso, sub, next_path="/console/?from=sso")
    done = await client.get(callback)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/console/?from=sso"
    home = await client.get("/console/")
    assert home.status_code == 200 and "陈静" in home.text

    (row,) = await sessions_of(hub, f"oidc:{sub}")
    assert (row.agency, row.role, row.person_name) == (agency, "case_officer", "陈静")
    (entry,) = await exchanged_for(hub, agency)
    assert entry["actor"] == f"{agency}/oidc:{sub}" and entry["details"]["idp"] == sso.url

    # What went to the provider: PKCE S256, state, nonce, max_age, the console's client.
    (asked,) = sso.authorize
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == f"{BASE}/console/auth/callback"
    assert asked["scope"].split() == ["openid", "profile"]
    assert asked["max_age"] == str(8 * 3600) and asked["state"] and asked["nonce"]
    assert query_of(callback)["state"] == asked["state"]
    (token_request,) = sso.token
    assert token_request["grant_type"] == "authorization_code"
    assert token_request["redirect_uri"] == asked["redirect_uri"]
    verifier = token_request["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert s256(verifier) == asked["code_challenge"]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request["authorization"] == f"Basic {basic}"


async def test_logout_ends_the_sign_in_at_the_provider_too(
    hub: Hub, sso: RecordingProvider, client: httpx.AsyncClient
) -> None:
    agency = await make_agency(hub)
    sub = uuid.uuid4().hex
    await register(sso, sub, person_claims(agency, "data_steward"))
    await client.get(await to_callback(client, sso, sub))
    (row,) = await sessions_of(hub, f"oidc:{sub}")
    assert row.id_token

    home = await client.get("/console/")
    out = await client.post("/console/logout", data={"csrf": csrf_of(home.text)})
    # A page that moves on to the provider by itself, not a redirect (CSP form-action).
    assert out.status_code == 200, out.text
    url = out.headers["refresh"].removeprefix("0; url=")
    assert url.startswith(f"{sso.url}/oauth2/end_session?")
    assert query_of(url) == {
        "id_token_hint": row.id_token,
        "post_logout_redirect_uri": f"{BASE}/console/login",
        "client_id": CLIENT_ID,
    }
    assert f'href="{url.replace("&", "&amp;")}"' in out.text
    assert await sessions_of(hub, f"oidc:{sub}") == []
    assert (await client.get("/console/")).status_code == 303
    async with httpx.AsyncClient() as browser_at_idp:
        assert (await browser_at_idp.get(url)).status_code == 200


async def test_a_callback_with_another_state_is_refused_and_ends_the_sign_in(
    hub: Hub, sso: RecordingProvider, client: httpx.AsyncClient
) -> None:
    agency = await make_agency(hub)
    sub = uuid.uuid4().hex
    await register(sso, sub, person_claims(agency))
    callback = await to_callback(client, sso, sub)
    forged = callback.replace(f"state={query_of(callback)['state']}", "state=guessed")
    refused = await client.get(forged)
    assert refused.status_code == 400
    assert "不属于本浏览器发起的登录" in alert_of(refused.text)
    # The sign-in it interrupted is over: its genuine answer no longer works either.
    late = await client.get(callback)
    assert late.status_code == 400 and "已使用或已过期" in alert_of(late.text)
    assert sso.token == [] and await sessions_of(hub, f"oidc:{sub}") == []


async def test_a_callback_is_used_once(
    hub: Hub, sso: RecordingProvider, client: httpx.AsyncClient
) -> None:
    agency = await make_agency(hub)
    sub = uuid.uuid4().hex
    await register(sso, sub, person_claims(agency))
    callback = await to_callback(client, sso, sub)
    pending = client.cookies.get(PENDING_COOKIE)
    assert pending
    assert (await client.get(callback)).status_code == 303
    # Replayed with the pending sign-in's cookie put back: the server kept no second use.
    client.cookies.set(PENDING_COOKIE, pending, domain="testserver", path="/")
    again = await client.get(callback)
    assert again.status_code == 400 and "已使用或已过期" in alert_of(again.text)
    assert len(await sessions_of(hub, f"oidc:{sub}")) == 1
    # Nor is a callback accepted from a browser that never started a sign-in.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hub.app), base_url=BASE
    ) as stranger:
        foreign = await stranger.get(callback)
    assert foreign.status_code == 400 and "已使用或已过期" in alert_of(foreign.text)


async def test_an_id_token_of_another_sign_in_is_refused(
    hub: Hub, sso: RecordingProvider, client: httpx.AsyncClient
) -> None:
    agency = await make_agency(hub)
    sub = uuid.uuid4().hex
    await register(sso, sub, person_claims(agency))
    sso.tamper_nonce = True  # the provider signs an ID token with another nonce
    callback = await to_callback(client, sso, sub)
    refused = await client.get(callback)
    assert refused.status_code == 400
    assert "不属于本次登录" in alert_of(refused.text)
    # The genuine, signed token was never exchanged for a person's token.
    assert len(sso.token) == 1
    assert await exchanged_for(hub, agency) == []
    assert await sessions_of(hub, f"oidc:{sub}") == []


async def test_the_exchanges_refusal_says_which_claim_is_wrong(
    hub: Hub, sso: RecordingProvider, client: httpx.AsyncClient
) -> None:
    agency = await make_agency(hub)
    nowhere = uuid.uuid4().hex
    await register(sso, nowhere, person_claims("t-nowhere"))
    page = await client.get(await to_callback(client, sso, nowhere))
    assert page.status_code == 403
    assert "数据中心不接受该账号登录控制台" in alert_of(page.text)
    assert "unknown agency &#39;t-nowhere&#39;" in page.text

    no_role = uuid.uuid4().hex
    await register(sso, no_role, {"govhub_agency": agency, "realm_access": {"roles": ["mayor"]}})
    page = await client.get(await to_callback(client, sso, no_role))
    assert page.status_code == 403
    assert "names no role of case_officer, data_steward, operator" in page.text
    # No token leaks onto the page, and nobody is signed in.
    (token_request,) = sso.token[-1:]
    assert token_request["code_verifier"] not in page.text
    assert "eyJ" not in page.text
    for sub in (nowhere, no_role):
        assert await sessions_of(hub, f"oidc:{sub}") == []


async def test_the_providers_refusal_is_a_page(
    hub: Hub, sso: RecordingProvider, client: httpx.AsyncClient
) -> None:
    callback = await to_callback(client, sso, None)  # the person clicks "Deny"
    assert query_of(callback)["error"] == "access_denied"
    page = await client.get(callback)
    assert page.status_code == 403
    assert "统一身份认证平台未完成登录（access_denied）" in alert_of(page.text)
    assert sso.token == []


async def test_without_a_provider_there_is_no_link_and_no_sign_in(
    client: httpx.AsyncClient,
) -> None:
    login = await client.get("/console/login")
    assert "/console/login/oidc" not in login.text
    page = await client.get("/console/login/oidc")
    assert page.status_code == 404
    assert "未启用城市统一身份认证登录" in alert_of(page.text)
