"""Helpers of the operator's pages' tests: an operator of the hub's own agency signed in
through the console, and a person of another role for the API's refusals."""

from __future__ import annotations

import html
import re

import httpx

from govhub_common.testing import Hub
from govhub_exchange.identity.service import HUB_AGENCY
from tests.console.conftest import AGENCY
from tests.console.support import csrf_of, login, make_account, make_agency

__all__ = ["HUB_AGENCY", "csrf_of", "sign_in_as", "sign_in_operator", "text_of"]

TAGS = re.compile(r"<[^>]+>")
SPACES = re.compile(r"\s+")


async def sign_in_as(
    hub: Hub, client: httpx.AsyncClient, username: str, *, role: str, agency: str = AGENCY
) -> None:
    password = await make_account(hub, username, agency=agency, role=role, name="测试人员")
    reply = await login(client, username, password)
    assert reply.status_code == 303, reply.text


async def sign_in_operator(hub: Hub, client: httpx.AsyncClient, username: str) -> None:
    """An operator of the data center (operators must belong to the hub's own agency)."""
    await make_agency(hub, HUB_AGENCY, "广州市政务服务数据管理局")
    await sign_in_as(hub, client, f"{username}-op", role="operator", agency=HUB_AGENCY)


def text_of(page: str) -> str:
    """A page's words as a person reads them: no tags, entities decoded, spaces collapsed."""
    return SPACES.sub(" ", html.unescape(TAGS.sub(" ", page))).strip()
