"""/console/agencies: an operator lists the agencies, opens one with its clients and
disables it after a confirmation (the exchange then refuses its clients' tokens); other
roles get the exchange's refusal."""

from __future__ import annotations

import httpx

from govhub_common.testing import Hub
from tests.console.ops.support import csrf_of, sign_in_as, sign_in_operator, text_of
from tests.console.support import make_agency
from tests.exchange.support import unique


async def test_an_operator_disables_an_agency_after_confirming_and_enables_it_again(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    code = unique("gz-cons")
    await make_agency(hub, code, "广州市测试局")
    made = await hub.client.post(
        f"/exchange/v1/agencies/{code}/clients",
        json={"scopes": ["exchange:subscribe"]},
        headers=hub.operator(),
    )
    assert made.status_code == 201, made.text
    client_id = made.json()["client_id"]
    await sign_in_operator(hub, client, username)

    listing = await client.get("/console/agencies")
    assert listing.status_code == 200, listing.text
    assert f'href="/console/agencies/{code}"' in listing.text
    assert "广州市测试局" in listing.text

    page = await client.get(f"/console/agencies/{code}")
    assert page.status_code == 200
    assert client_id in page.text
    assert "exchange:subscribe" in page.text
    assert made.json()["client_secret"] not in page.text
    assert '<dd class="agency-status">启用中</dd>' in page.text

    confirm = await client.get(f"/console/agencies/{code}/disable")
    assert confirm.status_code == 200
    assert "确定停用吗" in text_of(confirm.text)
    # Nothing changes until the confirmation is submitted.
    agency = await hub.client.get(f"/exchange/v1/agencies/{code}", headers=hub.operator())
    assert agency.json()["disabled"] is False

    done = await client.post(
        f"/console/agencies/{code}/disable", data={"csrf": csrf_of(confirm.text)}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/agencies/{code}?done=disable"
    page = await client.get(done.headers["location"])
    assert "部门已停用。" in page.text
    assert '<dd class="agency-status">已停用</dd>' in page.text
    agency = await hub.client.get(f"/exchange/v1/agencies/{code}", headers=hub.operator())
    assert agency.json()["disabled"] is True

    confirm = await client.get(f"/console/agencies/{code}/enable")
    done = await client.post(
        f"/console/agencies/{code}/enable", data={"csrf": csrf_of(confirm.text)}
    )
    assert done.status_code == 303
    agency = await hub.client.get(f"/exchange/v1/agencies/{code}", headers=hub.operator())
    assert agency.json()["disabled"] is False


async def test_a_change_without_the_pages_token_is_refused(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    code = unique("gz-cons")
    await make_agency(hub, code, "广州市测试局")
    await sign_in_operator(hub, client, username)
    refused = await client.post(f"/console/agencies/{code}/disable", data={})
    assert refused.status_code == 403
    agency = await hub.client.get(f"/exchange/v1/agencies/{code}", headers=hub.operator())
    assert agency.json()["disabled"] is False


async def test_an_unknown_agency_answers_as_the_api_does(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(hub, client, username)
    missing = await client.get("/console/agencies/gz-no-such-agency")
    assert missing.status_code == 404
    assert "HTTP 404" in text_of(missing.text)


async def test_a_data_steward_gets_the_exchanges_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_as(hub, client, username, role="data_steward")
    for path in ("/console/agencies", "/console/agencies/gz-console-scj"):
        refused = await client.get(path)
        assert refused.status_code == 403, path
        assert "接口拒绝了此请求（HTTP 403）" in text_of(refused.text)
