"""The flagship flow: market regulation publishes a new enterprise; quality supervision,
local tax and national tax read it with only their granted items (one by webhook)."""

from __future__ import annotations

from typing import Any

from standardwebhooks.webhooks import Webhook

from govhub_common.testing import Hub, wait_for
from tests.exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    make_agency,
    make_topic,
    publish,
    subscribe,
)
from tests.exchange.webhook_receiver import WebhookReceiver


async def test_new_enterprise_reaches_three_agencies_with_only_their_items(hub: Hub) -> None:
    amr = await make_agency(hub, "广州市工商行政管理局")
    qts = await make_agency(hub, "广州市质量技术监督局")
    ltax = await make_agency(hub, "广州市地方税务局")
    ntax = await make_agency(hub, "广州市国家税务局")
    topic = await make_topic(hub, amr)
    grants = {
        qts: ["uscc", "name", "address"],
        ltax: ["uscc", "name", "legal_rep_name", "established_date"],
        ntax: ["uscc", "name", "registered_capital"],
    }
    subs = {agency: await subscribe(hub, agency, topic, items) for agency, items in grants.items()}
    assert all(s["status"] == "approved" for s in subs.values())

    async with WebhookReceiver() as receiver:
        hook = await hub.client.put(
            f"{BASE}/subscriptions/{subs[ntax]['id']}/webhook",
            json={"url": receiver.url},
            headers=agency_headers(hub, ntax),
        )
        assert hook.status_code == 200, hook.text
        secret = hook.json()["secret"]

        record = enterprise(1, registered_capital=1000000)
        result = await publish(hub, amr, topic, [{"record_id": "AMR-0001", "data": record}])
        assert result["counts"] == {"accepted": 1, "duplicates": 0, "rejected": 0}

        for agency, items in grants.items():
            feed = await hub.client.get(
                f"{BASE}/subscriptions/{subs[agency]['id']}/records",
                headers=agency_headers(hub, agency),
            )
            assert feed.status_code == 200, feed.text
            [received] = feed.json()["data"]
            assert received["record_id"] == "AMR-0001"
            assert received["data"] == {k: record[k] for k in items}

        await wait_for(lambda: receiver.requests, timeout=10)
        request = receiver.requests[0]
        payload: Any = Webhook(secret).verify(request.body, request.headers)
        assert payload["data"]["record_id"] == "AMR-0001"
        assert payload["data"]["data"] == {k: record[k] for k in grants[ntax]}

    async def audited() -> list[dict[str, Any]] | None:
        entries = (
            await hub.client.get(
                f"{BASE}/audit", params={"topic": topic, "limit": 1000}, headers=hub.operator()
            )
        ).json()["data"]
        delivered = [e for e in entries if e["action"] == "records.delivered"]
        published = [e for e in entries if e["action"] == "records.published"]
        return entries if len(delivered) == 3 and published else None

    entries = await wait_for(audited, timeout=10)
    actions = [e["action"] for e in entries]
    assert "records.published" in actions
    assert actions.count("subscription.approved") == 3
    delivered = {
        e["agency"]: (e["details"]["first_seq"], e["details"]["last_seq"])
        for e in entries
        if e["action"] == "records.delivered"
    }
    assert delivered == {qts: (1, 1), ltax: (1, 1), ntax: (1, 1)}
    verify = await hub.client.get(f"{BASE}/audit/verify", headers=hub.operator())
    assert verify.json()["valid"] is True
