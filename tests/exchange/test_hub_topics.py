"""The hub's own topic: warnings from alerting become records agencies subscribe to;
and the exchange over the real RabbitMQ."""

from __future__ import annotations

import sqlalchemy as sa

from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events
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


def warning_event(warning_id: int, status: str) -> CloudEvent:
    """As alerting stages it (its contract, govhub_common.event_contracts.alerting)."""
    return CloudEvent(
        source="govhub/alerting",
        type=f"alerting.warning.{'raised' if status == 'open' else 'resolved'}",
        data={
            "warnings": [
                {
                    "id": warning_id,
                    "rule_id": "licence_without_tax_registration",
                    "rule_version": 1,
                    "title": "企业开业30日未办理税务登记",
                    "severity": "high",
                    "subject": "91350100M000100Y43",
                    "assigned_agency": "gz-ltax",
                    "status": status,
                    "resolution": None,
                    "raised_at": "2008-04-01T00:00:00+00:00",
                    "resolved_at": None if status == "open" else "2008-04-10T00:00:00+00:00",
                    "due_date": "2008-04-15",
                    "evidence": [],
                }
            ]
        },
    )


async def test_alerting_warnings_become_records_of_hub_warnings(hub: Hub) -> None:
    ltax = await make_agency(hub)
    request = await subscribe(hub, ltax, "hub_warnings", ["warning_id", "title", "status"])
    assert request["status"] == "pending"  # the hub decides who receives warnings
    approved = await hub.client.post(
        f"{BASE}/subscriptions/{request['id']}/decision",
        json={"approve": True},
        headers=hub.operator(),
    )
    assert approved.json()["status"] == "approved"
    feed_url = f"{BASE}/subscriptions/{request['id']}/records"
    start = (await hub.client.get(feed_url, headers=agency_headers(hub, ltax))).json()
    while start["next"]:  # skip warnings other tests appended
        start = (
            await hub.client.get(
                feed_url, params={"cursor": start["next"]}, headers=agency_headers(hub, ltax)
            )
        ).json()

    warning_id = 10_000_000 + request["id"]  # alerting's ids: numbers of their own
    for status in ("open", "resolved"):
        async with hub.runtime.db.session() as session:
            await add_events(session, "alerting", [warning_event(warning_id, status)])
        await hub.settle()
    feed = (
        await hub.client.get(
            feed_url, params={"cursor": start["position"]}, headers=agency_headers(hub, ltax)
        )
    ).json()["data"]
    mine = [r for r in feed if r["record_id"] == str(warning_id)]
    title = "企业开业30日未办理税务登记"
    assert [(r["version"], r["data"]) for r in mine] == [
        (1, {"warning_id": str(warning_id), "title": title, "status": "open"}),
        (2, {"warning_id": str(warning_id), "title": title, "status": "resolved"}),
    ]


async def test_publish_and_read_through_rabbitmq(rabbit_hub: Hub) -> None:
    hub = rabbit_hub
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc", "name"])
    result = await publish(
        hub, owner, topic, [{"record_id": f"q{i}", "data": enterprise(i)} for i in range(20)]
    )
    assert result["counts"]["accepted"] == 20
    await hub.settle()  # the batch event left through the broker with a confirm
    feed = (
        await hub.client.get(
            f"{BASE}/subscriptions/{sub['id']}/records",
            params={"limit": 100},
            headers=agency_headers(hub, reader),
        )
    ).json()["data"]
    assert [r["record_id"] for r in feed] == [f"q{i}" for i in range(20)]

    async def consumed_from_the_broker() -> bool:
        async with hub.runtime.db.session() as session:
            return bool(
                (
                    await session.execute(
                        sa.text(
                            "SELECT 1 FROM exchange.outbox o JOIN alerting.inbox i "
                            "ON i.event_id = o.event_id::text AND i.consumer = 'alerting.facts' "
                            "WHERE o.payload->'data'->>'topic' = :t"
                        ),
                        {"t": topic},
                    )
                ).first()
            )

    await wait_for(consumed_from_the_broker, timeout=15)
