"""Signing in and out with local accounts: the answer of a failed sign-in says nothing about
why, five failures lock the account, every POST needs the page's CSRF token and the
console's Origin, the session cookie is a host-only Secure HttpOnly one, and a session ends
at logout, when idle, and at its maximum."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from govhub_common.testing import Hub
from govhub_console.auth.models import ConsoleSession
from govhub_console.auth.service import wall_now
from govhub_console.security import token_hash
from govhub_console.settings import ConsoleSettings
from tests.console.conftest import AGENCY
from tests.console.support import BASE, csrf_of, login, make_account

COOKIE = "__Host-govhub-console"


def alert(page: str) -> str:
    start = page.index('role="alert"')
    return page[start : page.index("</p>", start)]


async def session_rows(hub: Hub, person: str) -> list[ConsoleSession]:
    async with hub.runtime.db.session() as session:
        rows = await session.execute(
            sa.select(ConsoleSession).where(col(ConsoleSession.person) == person)
        )
        return list(rows.scalars())


async def test_a_person_signs_in_and_lands_where_they_were_going(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="data_steward", name="李明")
    page = await client.get("/console/")
    assert page.headers["location"] == "/console/login?next=/console/"
    reply = await login(client, username, password, next_path="/console/topics?x=1")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/topics?x=1"
    home = await client.get("/console/")
    assert home.status_code == 200
    assert "李明" in home.text
    # Another site as the return address is not followed.
    await client.post("/console/logout", data={"csrf": csrf_of(home.text)})
    reply = await login(client, username, password, next_path="//evil.example/")
    assert reply.headers["location"] == "/console/"


async def test_the_session_cookie_is_host_only_secure_http_only_and_lax(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    reply = await login(client, username, password)
    cookies = [v for k, v in reply.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in cookies if c.startswith(f"{COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in session.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes
    assert "domain" not in attributes
    assert "path=/" in session.replace(" ", "").lower().split(";")
    assert "samesite=lax" in session.replace(" ", "").lower().split(";")
    # Only a hash of the value is stored.
    value = session.split(";")[0].split("=", 1)[1]
    rows = await session_rows(hub, f"local:{username}")
    assert [row.id_hash for row in rows] == [token_hash(value)]
    assert value not in {row.id_hash for row in rows}


async def test_plain_http_development_drops_the_prefix_and_secure(
    hub: Hub, username: str, console_settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_settings, "console_cookie_secure", False)
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    transport = httpx.ASGITransport(app=hub.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"Origin": "http://testserver"}
    ) as plain:
        reply = await login(plain, username, password)
        assert reply.status_code == 303
        cookie = next(v for k, v in reply.headers.multi_items() if k == "set-cookie")
        assert cookie.startswith("govhub-console=")
        assert "secure" not in cookie.lower()
        assert (await plain.get("/console/")).status_code == 200


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await make_account(hub, username, agency=AGENCY, role="case_officer")
    wrong = await login(client, username, "not-the-password")
    unknown = await login(client, f"{username}-nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.text
    assert alert(wrong.text) == alert(unknown.text)
    assert COOKIE not in client.cookies


async def test_five_failures_lock_the_account_and_say_nothing_more(
    hub: Hub, client: httpx.AsyncClient, username: str, console_settings: ConsoleSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    for _ in range(4):
        assert (await login(client, username, "wrong")).status_code == 401
    # A success before the fifth failure resets the count.
    ok = await login(client, username, password)
    assert ok.status_code == 303
    client.cookies.clear()
    for _ in range(5):
        assert (await login(client, username, "wrong")).status_code == 401
    locked = await login(client, username, password)
    unknown = await login(client, f"{username}-nobody", password)
    assert locked.status_code == unknown.status_code == 401
    assert alert(locked.text) == alert(unknown.text)
    assert COOKIE not in client.cookies
    # The lock ends after GOVHUB_CONSOLE_LOCKOUT_SECONDS.
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.text("UPDATE console.accounts SET locked_until = now() - interval '1 second' "
                    "WHERE username = :u"), {"u": username},
        )  # fmt: skip
    assert (await login(client, username, password)).status_code == 303


async def test_logout_deletes_the_session(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    await login(client, username, password)
    home = await client.get("/console/")
    cookie = client.cookies[COOKIE]
    assert len(await session_rows(hub, f"local:{username}")) == 1
    reply = await client.post("/console/logout", data={"csrf": csrf_of(home.text)})
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/login"
    assert await session_rows(hub, f"local:{username}") == []
    # The old cookie opens nothing any more.
    client.cookies.set(COOKIE, cookie, domain="testserver")
    assert (await client.get("/console/")).status_code == 303


async def test_posts_without_the_token_with_a_foreign_one_or_from_elsewhere_are_refused(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    await login(client, username, password)
    token = csrf_of((await client.get("/console/")).text)
    refused = [
        await client.post("/console/logout", data={}),
        await client.post("/console/logout", data={"csrf": "forged-" + token[7:]}),
        await client.post(
            "/console/logout", data={"csrf": token}, headers={"Origin": "https://evil.example"}
        ),
        await client.post(
            "/console/logout", data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
        ),
    ]
    for reply in refused:
        assert reply.status_code == 403
        assert reply.headers["content-type"].startswith("text/html")
        assert "无法确认此请求来自控制台" in reply.text
    assert len(await session_rows(hub, f"local:{username}")) == 1
    # htmx sends the token as a header.
    reply = await client.post("/console/logout", headers={"X-CSRF-Token": token})
    assert reply.status_code == 303
    assert await session_rows(hub, f"local:{username}") == []


async def test_the_sign_in_form_has_its_own_csrf_token(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    page = await client.get("/console/login")
    token = csrf_of(page.text)
    form = {"username": username, "password": password}
    assert (await client.post("/console/login", data=form)).status_code == 403
    assert (await client.post("/console/login", data={**form, "csrf": "x" * 64})).status_code == 403
    elsewhere = await client.post(
        "/console/login", data={**form, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    # Without the pre-session cookie (a forged form posted from another browser) as well.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hub.app), base_url=BASE, headers={"Origin": BASE}
    ) as stranger:
        assert (
            await stranger.post("/console/login", data={**form, "csrf": token})
        ).status_code == 403
    assert (await client.post("/console/login", data={**form, "csrf": token})).status_code == 303


async def test_an_idle_session_ends(hub: Hub, client: httpx.AsyncClient, username: str) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    await login(client, username, password)
    assert (await client.get("/console/")).status_code == 200
    settings: ConsoleSettings = hub.runtime.context("console").settings
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.update(ConsoleSession)
            .where(col(ConsoleSession.person) == f"local:{username}")
            .values(
                seen_at=wall_now() - timedelta(seconds=settings.console_session_idle_seconds + 1)
            )
        )
    reply = await client.get("/console/")
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/console/login")
    assert await session_rows(hub, f"local:{username}") == []


async def test_a_session_ends_at_its_maximum_however_busy(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    await login(client, username, password)
    (row,) = await session_rows(hub, f"local:{username}")
    settings: ConsoleSettings = hub.runtime.context("console").settings
    assert row.expires_at == row.auth_time + timedelta(seconds=settings.console_session_max_seconds)
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.update(ConsoleSession)
            .where(col(ConsoleSession.person) == f"local:{username}")
            .values(expires_at=wall_now() - timedelta(seconds=1), seen_at=wall_now())
        )
    assert (await client.get("/console/")).status_code == 303


async def test_an_htmx_request_without_a_session_is_told_to_load_the_sign_in_page(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.get("/console/", headers={"HX-Request": "true"})
    assert reply.status_code == 401
    assert reply.headers["hx-redirect"] == "/console/login?next=/console/"


async def test_the_city_sign_in_link_shows_only_with_an_identity_provider(
    client: httpx.AsyncClient, console_settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "/console/login/oidc" not in (await client.get("/console/login")).text
    monkeypatch.setattr(console_settings, "console_oidc_issuer", "https://id.example.gov.cn")
    page = (await client.get("/console/login")).text
    assert "/console/login/oidc" in page
    assert "使用城市统一身份认证登录" in page


async def test_without_local_accounts_the_form_is_gone_and_its_post_refused(
    hub: Hub, client: httpx.AsyncClient, username: str, console_settings: ConsoleSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    monkeypatch.setattr(console_settings, "console_local_accounts", False)
    page = await client.get("/console/login")
    assert 'name="password"' not in page.text
    reply = await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
    )
    assert reply.status_code == 404
    assert COOKIE not in client.cookies
