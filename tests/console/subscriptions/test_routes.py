"""/console/subscriptions: a data steward decides the requests to their agency's topics
(a refusal needs a reason), sees who receives what, and watches their agency's own
subscriptions: lag, webhook, dead letters."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import sqlalchemy as sa

from govhub_common.testing import Hub, wait_for
from tests.console.ops.support import sign_in_as
from tests.console.subscriptions.support import (
    csrf_of,
    make_client,
    new_agency,
    sign_in_steward,
    text_of,
    token_of,
)
from tests.exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    make_topic,
    publish,
    subscribe,
)
from tests.exchange.webhook_receiver import Received, WebhookReceiver


def row_of(page: str, subscription_id: int) -> str:
    """The pending list's row of one request, as a person reads it."""
    match = re.search(rf'<tr id="request-{subscription_id}">(.*?)</tr>', page, re.S)
    assert match, page
    return text_of(match.group(1))


async def test_approving_a_request_from_the_page_starts_the_subscribers_feed(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    topic = await make_topic(hub, agency, sharing_type="conditional")
    ltax = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    asked = await subscribe(hub, ltax, topic, ["uscc", "name"])
    reader = await make_client(hub, ltax, "exchange:subscribe")
    token = (await token_of(hub, reader["client_id"], reader["client_secret"])).json()
    feed_headers = {"Authorization": f"Bearer {token['access_token']}"}
    feed = f"{BASE}/subscriptions/{asked['id']}/records"
    assert (await hub.client.get(feed, headers=feed_headers)).status_code == 403

    page = await client.get("/console/subscriptions")
    assert page.status_code == 200, page.text
    row = row_of(page.text, asked["id"])
    assert ltax in row and topic in row
    assert "统一社会信用代码" in row and "企业名称" in row  # the items asked, by title
    assert "0 天" in row and "已超期" not in row

    done = await client.post(
        f"/console/subscriptions/{asked['id']}/decision",
        data={"csrf": csrf_of(page.text), "decision": "approve", "reason": ""},
    )
    assert done.status_code == 303, done.text
    after = await client.get(done.headers["location"])
    assert "已批准该申请" in text_of(after.text)
    assert f'id="request-{asked["id"]}"' not in after.text
    # Now among those who receive the agency's topics.
    assert ltax in text_of(after.text.split('id="granted_cursor"')[1])

    await publish(hub, agency, topic, [{"record_id": "after-approval", "data": enterprise(1)}])
    records = await hub.client.get(feed, headers=feed_headers)
    assert records.status_code == 200, records.text
    got = records.json()["data"]
    assert [r["record_id"] for r in got] == ["after-approval"]
    assert set(got[0]["data"]) == {"uscc", "name"}  # only the items granted


async def test_refusing_needs_a_reason(hub: Hub, client: httpx.AsyncClient, username: str) -> None:
    agency = await sign_in_steward(hub, client, username)
    topic = await make_topic(hub, agency, sharing_type="conditional")
    ntax = await new_agency(hub, "gz-ntax-", "国家税务总局广州市税务局")
    asked = await subscribe(hub, ntax, topic, ["uscc"])
    page = await client.get("/console/subscriptions")

    refused = await client.post(
        f"/console/subscriptions/{asked['id']}/decision",
        data={"csrf": csrf_of(page.text), "decision": "refuse", "reason": "  "},
    )
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert "HTTP 422" in text_of(refused.text)
    assert "拒绝申请时须填写理由" in text_of(refused.text)
    # Still waiting, on the page shown with the refusal.
    assert ntax in row_of(refused.text, asked["id"])
    state = await hub.client.get(f"{BASE}/subscriptions/{asked['id']}", headers=hub.operator())
    assert state.json()["status"] == "pending"

    done = await client.post(
        f"/console/subscriptions/{asked['id']}/decision",
        data={"csrf": csrf_of(page.text), "decision": "refuse", "reason": "用途与职责不符"},
    )
    assert done.status_code == 303
    state = await hub.client.get(f"{BASE}/subscriptions/{asked['id']}", headers=hub.operator())
    assert state.json()["status"] == "refused"
    assert state.json()["reason"] == "用途与职责不符"
    # Deciding it again: the API's 409, shown on the page.
    again = await client.post(
        f"/console/subscriptions/{asked['id']}/decision",
        data={"csrf": csrf_of(page.text), "decision": "approve"},
    )
    assert again.status_code == 409
    assert "HTTP 409" in text_of(again.text)


async def test_a_request_waiting_more_than_five_days_is_marked_overdue(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    topic = await make_topic(hub, agency, sharing_type="conditional")
    old = await subscribe(hub, await new_agency(hub, "gz-hrss-", "人社局"), topic, ["uscc"])
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.text(
                "UPDATE exchange.subscriptions SET requested_at = now() - interval '7 days 1 hour' "
                "WHERE id = :id"
            ),
            {"id": old["id"]},
        )
    page = await client.get("/console/subscriptions")
    assert "7 天（已超期，超过 5 天）" in row_of(page.text, old["id"])


async def test_a_steward_sees_their_agencys_subscriptions_only(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    other = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    theirs_topic = await make_topic(hub, other, sharing_type="conditional")
    third = await new_agency(hub, "gz-qts-", "广州市质量技术监督局")
    theirs = await subscribe(hub, third, theirs_topic, ["uscc"])
    mine = await subscribe(hub, agency, await make_topic(hub, other), ["uscc", "name"])
    await publish(hub, other, mine["topic"], [{"record_id": "r1", "data": enterprise(1)}])

    page = await client.get("/console/subscriptions")
    assert page.status_code == 200
    assert f'id="request-{theirs["id"]}"' not in page.text
    assert third not in page.text
    own = text_of(page.text.split('id="own_cursor"')[1])
    assert mine["topic"] in own and "已批准" in own
    assert "1 条" in own  # the record published and not read yet
    assert "未设置（仅拉取）" in own

    detail = await client.get(f"/console/subscriptions/{mine['id']}")
    assert detail.status_code == 200
    assert "没有死信。" in text_of(detail.text)
    # Another agency's subscription answers as the API does.
    forbidden = await client.get(f"/console/subscriptions/{theirs['id']}")
    assert forbidden.status_code == 404


async def test_a_paused_webhook_is_resumed_and_dead_letters_are_redriven(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    owner = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    mine = await subscribe(hub, agency, await make_topic(hub, owner), ["uscc"])
    failing = True

    async def down_then_up(received: Received, writer: asyncio.StreamWriter) -> None:
        status = 500 if failing else 200
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
        await writer.drain()

    async with WebhookReceiver(reply=down_then_up) as receiver:
        hook = await hub.client.put(
            f"{BASE}/subscriptions/{mine['id']}/webhook",
            json={"url": receiver.url},
            headers=agency_headers(hub, agency),
        )
        assert hook.status_code == 200, hook.text
        records = [{"record_id": f"w{n}", "data": enterprise(n)} for n in range(5)]
        await publish(hub, owner, mine["topic"], records)
        # Attempts run out (dead letters) and, the endpoint failing on, the webhook pauses.
        state = await wait_for(lambda: _paused_with_dead_letters(hub, mine["id"]), timeout=30)
        dead = state["webhook"]["dead"]["count"]

        page = await client.get("/console/subscriptions")
        own = text_of(page.text.split('id="own_cursor"')[1])
        assert "已暂停" in own and "暂停原因" in own

        detail = await client.get(f"/console/subscriptions/{mine['id']}")
        assert "HTTP 500" in text_of(detail.text)
        failing = False
        redriven = await client.post(
            f"/console/subscriptions/{mine['id']}/redrive", data={"csrf": csrf_of(detail.text)}
        )
        assert redriven.status_code == 303
        after = await client.get(redriven.headers["location"])
        assert f"已将 {dead} 条死信重新排入推送队列" in text_of(after.text)

        resumed = await client.post(
            f"/console/subscriptions/{mine['id']}/resume", data={"csrf": csrf_of(after.text)}
        )
        assert resumed.status_code == 303
        assert "推送已恢复" in text_of((await client.get(resumed.headers["location"])).text)
        # Everything reaches the endpoint now, the dead letters too.
        await wait_for(lambda: _all_delivered(hub, mine["id"], len(records)), timeout=30)
    state = await hub.client.get(f"{BASE}/subscriptions/{mine['id']}", headers=hub.operator())
    assert state.json()["webhook_status"] == "active"


async def _paused_with_dead_letters(hub: Hub, subscription_id: int) -> dict[str, Any] | None:
    sub = (
        await hub.client.get(f"{BASE}/subscriptions/{subscription_id}", headers=hub.operator())
    ).json()
    stats = (
        await hub.client.get(
            f"{BASE}/subscriptions/{subscription_id}/stats", headers=hub.operator()
        )
    ).json()
    dead = stats["webhook"].get("dead", {}).get("count", 0)
    return stats if sub["webhook_status"] == "paused" and dead else None


async def _all_delivered(hub: Hub, subscription_id: int, count: int) -> bool:
    stats = (
        await hub.client.get(
            f"{BASE}/subscriptions/{subscription_id}/stats", headers=hub.operator()
        )
    ).json()
    return bool(stats["webhook"].get("delivered", {}).get("count", 0) == count)


async def test_another_agencys_dead_letters_are_not_redriven(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_steward(hub, client, username)
    owner = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    theirs = await subscribe(hub, await new_agency(hub), await make_topic(hub, owner), ["uscc"])
    page = await client.get("/console/subscriptions")
    forged = await client.post(
        f"/console/subscriptions/{theirs['id']}/redrive", data={"csrf": csrf_of(page.text)}
    )
    assert forged.status_code == 404
    assert 'role="alert"' in forged.text


async def test_a_case_officer_gets_the_apis_refusal_on_the_stewards_pages(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_as(hub, client, username, role="case_officer")
    for path in ("/console/topics", "/console/subscriptions", "/console/clients"):
        page = await client.get(path)
        assert page.status_code == 403, path
        assert 'role="alert"' in page.text and "HTTP 403" in text_of(page.text), path
