"""Helpers of the console's tests: a browser-like client (https, so that Secure cookies
travel), reading a page's CSRF token, signing in, and local accounts made directly."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from govhub_common.testing import Hub
from govhub_console.accounts.service import add_account, password_hasher

BASE = "https://testserver"
ORIGIN = BASE
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@asynccontextmanager
async def browser(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies and sends the console's Origin on every request, as a
    browser on the console's pages would."""
    transport = httpx.ASGITransport(app=hub.app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Origin": ORIGIN}, timeout=30
    ) as client:
        yield client


def csrf_of(page: str) -> str:
    match = CSRF.search(page)
    assert match, page
    return match.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str, *, next_path: str = ""
) -> httpx.Response:
    """Open the sign-in page and submit it."""
    page = await client.get("/console/login")
    assert page.status_code == 200, page.text
    form = {"username": username, "password": password, "csrf": csrf_of(page.text)}
    if next_path:
        form["next"] = next_path
    return await client.post("/console/login", data=form)


async def make_account(
    hub: Hub, username: str, *, agency: str, role: str, name: str | None = None
) -> str:
    """A local account as `govhub console account add` makes it; its password."""
    async with hub.runtime.db.session() as session:
        return await add_account(
            session,
            hasher=password_hasher(),
            username=username,
            agency=agency,
            role=role,
            display_name=name,
        )


async def make_agency(hub: Hub, code: str, name: str) -> None:
    reply = await hub.client.post(
        "/exchange/v1/agencies", json={"code": code, "name": name}, headers=hub.operator()
    )
    assert reply.status_code in (201, 409), reply.text
