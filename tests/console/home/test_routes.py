"""The home page end to end: the console exchanges the signed-in person's identity for
their own access token at the exchange, calls the API with it, and shows who they are, their
agency, their role, what the hub grants them and the menu of their role."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import sqlalchemy as sa
from sqlmodel import col

from govhub_common.persons import ROLE_SCOPES
from govhub_common.testing import Hub
from govhub_console.auth.models import ConsoleSession
from govhub_console.auth.service import wall_now
from govhub_exchange.identity.service import HUB_AGENCY
from tests.console.conftest import AGENCY
from tests.console.support import login, make_account, make_agency


async def session_of(hub: Hub, username: str) -> ConsoleSession:
    async with hub.runtime.db.session() as session:
        return (
            await session.execute(
                sa.select(ConsoleSession).where(col(ConsoleSession.person) == f"local:{username}")
            )
        ).scalar_one()


async def test_a_stewards_home_shows_their_agency_role_access_and_menu(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="data_steward", name="李明")
    await login(client, username, password)
    home = await client.get("/console/")
    assert home.status_code == 200
    assert f'<dd class="agency">{AGENCY}</dd>' in home.text
    assert '<dd class="role">数据管理员</dd>' in home.text
    # What the exchange's whoami answered to the person's token: the role's scopes.
    for scope in ROLE_SCOPES["data_steward"]:
        assert f"<code>{scope}</code>" in home.text
    assert "<code>operator</code>" not in home.text
    for entry in ("/console/topics", "/console/subscriptions", "/console/clients"):
        assert f'href="{entry}"' in home.text
    for entry in ("/console/warnings", "/console/audit", "/console/agencies"):
        assert f'href="{entry}"' not in home.text
    # The token the console holds is the person's, issued to the console for them.
    claims = jwt.decode(
        (await session_of(hub, username)).person_token, options={"verify_signature": False}
    )
    assert claims["sub"] == AGENCY
    assert claims["person"] == f"local:{username}"
    assert claims["role"] == "data_steward"


async def test_each_role_sees_its_own_menu(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await make_agency(hub, HUB_AGENCY, "数据中心")
    officer = await make_account(hub, f"{username}-o", agency=AGENCY, role="case_officer")
    await login(client, f"{username}-o", officer)
    home = (await client.get("/console/")).text
    assert 'href="/console/warnings"' in home
    assert 'href="/console/topics"' not in home
    client.cookies.clear()
    operator = await make_account(hub, f"{username}-x", agency=HUB_AGENCY, role="operator")
    await login(client, f"{username}-x", operator)
    home = (await client.get("/console/")).text
    for entry in ("agencies", "catalog", "audit", "events", "rules", "sms-templates", "registry"):
        assert f'href="/console/{entry}"' in home, entry
    assert 'href="/console/warnings"' not in home


async def test_the_person_token_is_renewed_when_due(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    await login(client, username, password)
    before = await session_of(hub, username)
    # Its lifetime as good as over: the next page renews it first.
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.update(ConsoleSession)
            .where(col(ConsoleSession.id_hash) == before.id_hash)
            .values(token_expires_at=wall_now())
        )
    assert (await client.get("/console/")).status_code == 200
    after = await session_of(hub, username)
    # Renewed: the session holds a token with a lifetime ahead of it again.
    assert after.token_expires_at > wall_now() + timedelta(seconds=30)
    assert jwt.decode(after.person_token, options={"verify_signature": False})["person"] == (
        f"local:{username}"
    )


async def test_a_token_the_api_refuses_and_that_cannot_be_renewed_signs_the_person_out(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer")
    await login(client, username, password)
    row = await session_of(hub, username)
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.update(ConsoleSession)
            .where(col(ConsoleSession.id_hash) == row.id_hash)
            .values(person_token="not-a-token")
        )
    reply = await client.get("/console/")
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/console/login")
    async with hub.runtime.db.session() as session:
        assert await session.get(ConsoleSession, row.id_hash) is None
