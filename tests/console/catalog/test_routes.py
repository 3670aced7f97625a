"""/console/catalog: an operator searches the topics and data items, and pages through
them by the API's cursor; a case officer gets the exchange's refusal."""

from __future__ import annotations

import uuid

import httpx
import pytest

from govhub_common.testing import Hub
from govhub_console.catalog import service
from tests.console.ops.support import sign_in_as, sign_in_operator, text_of
from tests.exchange.support import (
    BASE,
    ENTERPRISE_SCHEMA,
    agency_headers,
    make_agency,
)


async def make_titled_topic(hub: Hub, owner: str, code: str, title: str) -> None:
    body = {
        "code": code,
        "title": title,
        "sharing_type": "conditional",
        "schema": ENTERPRISE_SCHEMA,
    }
    reply = await hub.client.post(f"{BASE}/topics", json=body, headers=agency_headers(hub, owner))
    assert reply.status_code == 201, reply.text


async def test_an_operator_searches_topics_and_follows_the_next_page(
    hub: Hub, client: httpx.AsyncClient, username: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await make_agency(hub)
    marker = uuid.uuid4().hex[:8]
    codes = [f"c_{marker}_a", f"c_{marker}_b"]
    for code in codes:
        await make_titled_topic(hub, owner, code, f"企业年报{marker}")
    await sign_in_operator(hub, client, username)
    monkeypatch.setattr(service, "PAGE_SIZE", 1)

    first = await client.get("/console/catalog", params={"q": marker})
    assert first.status_code == 200, first.text
    assert codes[0] in first.text and codes[1] not in first.text
    assert "有条件共享" in first.text
    next_link = f'href="/console/catalog?q={marker}&amp;kind=topics&amp;cursor='
    assert next_link in first.text
    href = first.text.split(next_link, 1)[1].split('"', 1)[0]
    second = await client.get(f"/console/catalog?q={marker}&kind=topics&cursor={href}")
    assert second.status_code == 200
    assert codes[1] in second.text and codes[0] not in second.text
    assert "信息项" not in text_of(second.text).split("主题", 1)[1]  # only the topics followed

    items = await client.get("/console/catalog", params={"q": "legal_rep_name"})
    assert "<code>legal_rep_name</code>" in items.text


async def test_a_bad_cursor_is_the_apis_problem_on_the_page(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(hub, client, username)
    reply = await client.get("/console/catalog", params={"kind": "topics", "cursor": "nope"})
    assert reply.status_code == 400
    assert "接口拒绝了此请求（HTTP 400）" in text_of(reply.text)


async def test_a_case_officer_gets_the_exchanges_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_as(hub, client, username, role="case_officer")
    refused = await client.get("/console/catalog", params={"q": "企业"})
    assert refused.status_code == 403
    assert "HTTP 403" in text_of(refused.text)
