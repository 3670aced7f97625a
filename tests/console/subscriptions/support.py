"""Helpers of the data steward's pages' tests: a steward of an agency of their own (so a
list shows that agency's objects only), agencies' clients and their tokens."""

from __future__ import annotations

from typing import Any

import httpx

from govhub_common.testing import Hub
from tests.console.ops.support import csrf_of, sign_in_as, text_of
from tests.console.support import make_agency
from tests.exchange.support import BASE, unique

__all__ = ["csrf_of", "make_client", "new_agency", "sign_in_steward", "text_of", "token_of"]


async def new_agency(hub: Hub, prefix: str = "gz-amr-", name: str = "广州市市场监督管理局") -> str:
    code = unique(prefix)
    await make_agency(hub, code, name)
    return code


async def sign_in_steward(hub: Hub, client: httpx.AsyncClient, username: str) -> str:
    """A data steward (数据管理员) of a new gz-amr-like agency, signed in; the agency."""
    agency = await new_agency(hub)
    await sign_in_as(hub, client, username, role="data_steward", agency=agency)
    return agency


async def make_client(hub: Hub, agency: str, *scopes: str) -> dict[str, Any]:
    """An OAuth client of the agency, made by an operator: with its secret."""
    made = await hub.client.post(
        f"{BASE}/agencies/{agency}/clients",
        json={"client_id": unique("c-"), "scopes": list(scopes)},
        headers=hub.operator(),
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


async def token_of(hub: Hub, client_id: str, secret: str) -> httpx.Response:
    """The exchange's answer to a client-credentials token request."""
    return await hub.client.post(
        f"{BASE}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
