"""/console/topics: a data steward sees their agency's topics only, a topic's data items
and versions, and its quarantined records with their faults."""

from __future__ import annotations

import httpx

from govhub_common.testing import Hub
from tests.console.subscriptions.support import new_agency, sign_in_steward, text_of
from tests.exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    make_topic,
    publish,
)


async def test_a_steward_sees_their_agencys_topics_only(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    other = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    mine = await make_topic(hub, agency, sharing_type="conditional")
    theirs = await make_topic(hub, other)
    await publish(hub, agency, mine, [{"record_id": "r1", "data": enterprise(1)}])

    page = await client.get("/console/topics")
    assert page.status_code == 200, page.text
    assert f'href="/console/topics/{mine}"' in page.text
    assert theirs not in page.text
    words = text_of(page.text)
    assert "有条件共享" in words and "企业开业登记" in words


async def test_a_topic_shows_its_data_items_versions_and_quarantined_faults(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    topic = await make_topic(hub, agency)
    bad = enterprise(2, uscc="91440101MA59ABCD1X")  # a wrong check character
    reply = await hub.client.post(
        f"{BASE}/topics/{topic}/records",
        json=[{"record_id": "good", "data": enterprise(1)}, {"record_id": "bad-1", "data": bad}],
        headers=agency_headers(hub, agency),
    )
    assert reply.status_code == 200, reply.text
    fault = reply.json()["rejected"][0]["errors"][0]

    page = await client.get(f"/console/topics/{topic}")
    assert page.status_code == 200, page.text
    words = text_of(page.text)
    # The data items with title, sensitivity and the personal flag.
    assert "法定代表人身份证号" in words and "敏感" in words
    assert '<dd class="topic-records">1</dd>' in page.text
    assert f'href="/console/topics/{topic}/versions/1"' in page.text
    # The quarantined record with the API's fault.
    assert "bad-1" in words
    assert fault["path"] in words and fault["message"] in words

    version = await client.get(f"/console/topics/{topic}/versions/1")
    assert version.status_code == 200
    assert "联系电话" in text_of(version.text)


async def test_another_agencys_quarantine_answers_as_the_api_does(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    other = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    theirs = await make_topic(hub, other)
    api = await hub.client.get(
        f"{BASE}/topics/{theirs}/quarantine",
        headers=hub.auth(agency, "exchange:publish"),
    )
    page = await client.get(f"/console/topics/{theirs}")
    assert page.status_code == api.status_code
    assert page.status_code in (403, 404)
    assert api.json()["detail"] in text_of(page.text)
    unknown = await client.get("/console/topics/no_such_topic")
    assert unknown.status_code == 404
