"""Delivery: pull feeds with cursors and long-polls, webhooks with retries, dead letters
and re-drive, lag figures and delivery status."""

from __future__ import annotations

import asyncio

from standardwebhooks.webhooks import Webhook

from exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    make_agency,
    make_topic,
    publish,
    subscribe,
)
from exchange.webhook_receiver import WebhookReceiver
from govhub_common.settings import CommonSettings
from govhub_common.testing import Hub, running_hub, wait_for
from govhub_exchange.delivery.notify import notifier


async def test_feed_pages_by_cursor_and_acknowledges(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc", "name"])
    await publish(
        hub, owner, topic, [{"record_id": f"p{i}", "data": enterprise(i)} for i in range(5)]
    )
    headers = agency_headers(hub, reader)
    url = f"{BASE}/subscriptions/{sub['id']}/records"
    first = (await hub.client.get(url, params={"limit": 3}, headers=headers)).json()
    assert [r["record_id"] for r in first["data"]] == ["p0", "p1", "p2"]
    assert set(first["data"][0]["data"]) == {"uscc", "name"}
    second = (
        await hub.client.get(url, params={"after": first["next"], "limit": 3}, headers=headers)
    ).json()
    assert [r["record_id"] for r in second["data"]] == ["p3", "p4"]

    stats = (
        await hub.client.get(f"{BASE}/subscriptions/{sub['id']}/stats", headers=headers)
    ).json()
    assert stats["head_seq"] == 5 and stats["delivered_seq"] == 5
    assert stats["acked_seq"] == 3 and stats["lag_records"] == 2
    assert stats["lag_seconds"] >= 0

    status = (
        await hub.client.get(
            f"{BASE}/deliveries",
            params={"topic": topic, "record_id": "p4"},
            headers=agency_headers(hub, owner),
        )
    ).json()["data"]
    assert [(d["subscriber"], d["feed_status"]) for d in status] == [(reader, "delivered")]
    acknowledged = (
        await hub.client.get(
            f"{BASE}/deliveries", params={"topic": topic, "status": "acknowledged"}, headers=headers
        )
    ).json()["data"]
    assert sorted(d["record_id"] for d in acknowledged) == ["p0", "p1", "p2"]

    # The same figures for Prometheus: lag per subscription, latency, records published.
    async def exported() -> str | None:
        text = (await hub.client.get("/exchange/metrics")).text
        lag = (
            f'govhub_exchange_subscription_lag_records{{subscriber="{reader}",'
            f'subscription="{sub["id"]}",topic="{topic}"}} 2.0'
        )
        return text if lag in text else None

    metrics = await wait_for(exported, timeout=10)
    assert f'govhub_exchange_records_published_total{{topic="{topic}"}} 5.0' in metrics
    assert (
        f'govhub_exchange_delivery_latency_seconds_count{{mode="feed",topic="{topic}"}}' in metrics
    )

    # Another agency cannot read this subscription's feed.
    stranger = await make_agency(hub)
    assert (await hub.client.get(url, headers=agency_headers(hub, stranger))).status_code == 404


async def test_long_poll_returns_when_a_record_is_published(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc"])
    poll = asyncio.create_task(
        hub.client.get(
            f"{BASE}/subscriptions/{sub['id']}/records",
            params={"after": 0, "wait": 20},
            headers=agency_headers(hub, reader),
        )
    )
    exchange = hub.runtime.context("exchange")
    await wait_for(lambda: notifier(exchange).watched(topic))
    assert not poll.done()
    await publish(hub, owner, topic, [{"record_id": "late", "data": enterprise(0)}])
    response = await asyncio.wait_for(poll, timeout=10)
    assert [r["record_id"] for r in response.json()["data"]] == ["late"]


async def test_a_long_poll_on_one_replica_returns_when_another_publishes(
    fresh_db_url: str, amqp_url: str, amqp_exchange: str
) -> None:
    # Two exchange processes on one database, as a Deployment with two replicas runs them.
    settings = CommonSettings(
        amqp_url=amqp_url,
        amqp_exchange=amqp_exchange,
        amqp_queue_prefix=f"{amqp_exchange}.replicas.",
        amqp_delete_queues_at_stop=True,
    )
    async with (
        running_hub(fresh_db_url, target="exchange", settings=settings) as first,
        running_hub(fresh_db_url, target="exchange", settings=settings) as second,
    ):
        owner, reader = await make_agency(first), await make_agency(first)
        topic = await make_topic(first, owner)
        sub = await subscribe(first, reader, topic, ["uscc"])
        for n in range(3):  # three publishes in a row, each seen by the other replica
            after = n
            poll = asyncio.create_task(
                first.client.get(
                    f"{BASE}/subscriptions/{sub['id']}/records",
                    params={"after": after, "wait": 20},
                    headers=agency_headers(first, reader),
                )
            )
            await wait_for(lambda: notifier(first.runtime.context("exchange")).watched(topic))
            await publish(second, owner, topic, [{"record_id": f"r{n}", "data": enterprise(n)}])
            # Well before the 20 s wait runs out: the commit itself wakes the other replica.
            response = await asyncio.wait_for(poll, timeout=5)
            assert [r["record_id"] for r in response.json()["data"]] == [f"r{n}"]


async def test_webhook_retries_with_the_same_id_then_delivers(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc", "district"])
    async with WebhookReceiver(statuses=[500, 503]) as receiver:
        hook = await hub.client.put(
            f"{BASE}/subscriptions/{sub['id']}/webhook",
            json={"url": receiver.url},
            headers=agency_headers(hub, reader),
        )
        secret = hook.json()["secret"]
        await publish(hub, owner, topic, [{"record_id": "w1", "data": enterprise(0)}])
        await wait_for(lambda: len(receiver.requests) >= 3, timeout=15)
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1
    payload = Webhook(secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)
    assert payload["data"]["data"] == {"uscc": enterprise(0)["uscc"], "district": "天河区"}
    status = await wait_for(
        lambda: _webhook_status(hub, topic, reader, "w1", "delivered"), timeout=10
    )
    assert status["webhook_attempts"] == 3


async def _webhook_status(hub: Hub, topic: str, reader: str, record_id: str, wanted: str):  # type: ignore[no-untyped-def]
    rows = (
        await hub.client.get(
            f"{BASE}/deliveries",
            params={"topic": topic, "record_id": record_id},
            headers=agency_headers(hub, reader),
        )
    ).json()["data"]
    return rows[0] if rows and rows[0]["webhook_status"] == wanted else None


async def test_dead_letters_after_the_last_attempt_and_operator_redrive(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc"])
    async with WebhookReceiver(statuses=[500, 500, 500]) as receiver:
        await hub.client.put(
            f"{BASE}/subscriptions/{sub['id']}/webhook",
            json={"url": receiver.url},
            headers=agency_headers(hub, reader),
        )
        await publish(hub, owner, topic, [{"record_id": "d1", "data": enterprise(0)}])
        dead = await wait_for(lambda: _webhook_status(hub, topic, reader, "d1", "dead"), timeout=15)
        assert dead["webhook_attempts"] == 3  # GOVHUB_WEBHOOK_MAX_ATTEMPTS in the tests
        assert dead["webhook_last_error"] == "HTTP 500"
        letters = (
            await hub.client.get(
                f"{BASE}/webhooks/dead-letters",
                params={"subscription_id": sub["id"]},
                headers=hub.operator(),
            )
        ).json()["data"]
        assert [(d["record_id"], d["attempts"]) for d in letters] == [("d1", 3)]

        not_operator = await hub.client.post(
            f"{BASE}/webhooks/redrive",
            json={"subscription_id": sub["id"]},
            headers=agency_headers(hub, reader),
        )
        assert not_operator.status_code == 403
        redriven = await hub.client.post(
            f"{BASE}/webhooks/redrive",
            json={"subscription_id": sub["id"], "seq": letters[0]["seq"]},
            headers=hub.operator(),
        )
        assert redriven.json() == {"redriven": 1}
        await wait_for(lambda: _webhook_status(hub, topic, reader, "d1", "delivered"), timeout=15)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == 4
