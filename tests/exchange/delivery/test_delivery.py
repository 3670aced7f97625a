"""Delivery: pull feeds with cursors and long-polls, webhooks with retries, dead letters
and re-drive, lag figures and delivery status."""

from __future__ import annotations

import asyncio

import orjson
from standardwebhooks.webhooks import Webhook

from govhub_common.pagination import encode_cursor
from govhub_common.settings import CommonSettings
from govhub_common.testing import Hub, plan_scans, running_hub, wait_for
from govhub_exchange.delivery.schemas import FeedPage
from govhub_exchange.state import exchange_state
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
    assert first["caught_up"] is False and first["next"] == first["position"]
    assert FeedPage.model_validate(first).data[0].seq == 1  # the documented shape
    second = (
        await hub.client.get(url, params={"cursor": first["next"], "limit": 3}, headers=headers)
    ).json()
    assert [r["record_id"] for r in second["data"]] == ["p3", "p4"]
    # The page reached the head: next is null (a `while next:` loop ends), the position
    # stays to come back to.
    assert second["caught_up"] is True and second["next"] is None
    assert second["position"] == encode_cursor(5)

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


async def test_a_feed_page_reads_no_more_of_the_log_than_it_returns(hub: Hub) -> None:
    # A reader far behind costs a page, not its backlog: each scan of the rows stops at
    # the page's last seq (migration 0017; it read every row after the cursor before).
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    for b in range(0, 1_200, 400):
        sent = [{"record_id": f"b{i}", "data": enterprise(i)} for i in range(b, b + 400)]
        await publish(hub, owner, topic, sent)
    async with hub.runtime.db.autocommit() as raw:
        for after, limit in ((0, 10), (600, 25), (1_190, 50)):
            explained = await raw.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM exchange.log_page($1, $2, $3)",
                topic,
                after,
                limit,
            )
            (plan,) = orjson.loads(explained) if isinstance(explained, str) else explained
            scans = plan_scans(plan["Plan"], "records")
            assert scans, plan
            page = min(limit, 1_200 - after)
            read = [
                (s["Node Type"], s["Actual Rows"], s.get("Rows Removed by Filter", 0))
                for s in scans
            ]
            assert all(rows <= page and removed == 0 for _, rows, removed in read), read


async def test_a_feed_read_to_the_end_by_the_generic_pagination_loop(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc"])
    await publish(
        hub, owner, topic, [{"record_id": f"g{i}", "data": enterprise(i)} for i in range(7)]
    )
    headers = agency_headers(hub, reader)
    url = f"{BASE}/subscriptions/{sub['id']}/records"
    seen, pages, cursor = [], 0, None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = (await hub.client.get(url, params=params, headers=headers)).json()
        seen += [r["seq"] for r in body["data"]]
        pages += 1
        cursor = body["next"]
        if not cursor:
            break
    assert seen == list(range(1, 8)) and pages == 3
    assert body["caught_up"] is True
    # Exactly a page's worth left: the page still says it reached the head.
    at_six = (
        await hub.client.get(url, params={"cursor": encode_cursor(4), "limit": 3}, headers=headers)
    ).json()
    assert [r["seq"] for r in at_six["data"]] == [5, 6, 7] and at_six["next"] is None
    # Coming back from the position later: an empty page that stays where it was.
    later = (await hub.client.get(url, params={"cursor": body["position"]}, headers=headers)).json()
    assert later == {
        "data": [],
        "next": None,
        "caught_up": True,
        "position": body["position"],
    }

    bad = await hub.client.get(url, params={"cursor": "not-a-cursor"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
    negative = await hub.client.get(url, params={"cursor": encode_cursor(-1)}, headers=headers)
    assert negative.status_code == 400 and negative.json()["code"] == "invalid_cursor"
    too_many = await hub.client.get(url, params={"limit": 5001}, headers=headers)
    assert too_many.status_code == 422 and too_many.json()["code"] == "validation_failed"


async def test_deliveries_page_newest_first_without_gaps(hub: Hub) -> None:
    owner = await make_agency(hub)
    readers = [await make_agency(hub), await make_agency(hub)]
    topic = await make_topic(hub, owner)
    subs = [await subscribe(hub, reader, topic, ["uscc"]) for reader in readers]
    await publish(
        hub, owner, topic, [{"record_id": f"s{i}", "data": enterprise(i)} for i in range(3)]
    )
    rows, cursor, pages = [], None, 0
    while True:
        params: dict[str, str | int] = {"topic": topic, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = (
            await hub.client.get(
                f"{BASE}/deliveries", params=params, headers=agency_headers(hub, owner)
            )
        ).json()
        rows += [(d["seq"], d["subscription_id"]) for d in body["data"]]
        pages += 1
        cursor = body["next"]
        if not cursor:
            break
    ids = sorted(sub["id"] for sub in subs)
    assert pages == 2
    assert rows == [(seq, sub_id) for seq in (3, 2, 1) for sub_id in ids]


async def test_long_poll_returns_when_a_record_is_published(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc"])
    poll = asyncio.create_task(
        hub.client.get(
            f"{BASE}/subscriptions/{sub['id']}/records",
            params={"wait": 30},
            headers=agency_headers(hub, reader),
        )
    )
    exchange = hub.runtime.context("exchange")
    await wait_for(lambda: exchange_state(exchange).notifier.watched(topic))
    assert not poll.done()
    await publish(hub, owner, topic, [{"record_id": "late", "data": enterprise(0)}])
    # Before the 30 s wait runs out: the publish wakes the poll (a loaded machine may be slow).
    response = await asyncio.wait_for(poll, timeout=20)
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
        position: str | None = None
        for n in range(3):  # three publishes in a row, each seen by the other replica
            params: dict[str, str | int] = {"wait": 30}
            if position is not None:
                params["cursor"] = position
            poll = asyncio.create_task(
                first.client.get(
                    f"{BASE}/subscriptions/{sub['id']}/records",
                    params=params,
                    headers=agency_headers(first, reader),
                )
            )
            await wait_for(
                lambda: exchange_state(first.runtime.context("exchange")).notifier.watched(topic)
            )
            await publish(second, owner, topic, [{"record_id": f"r{n}", "data": enterprise(n)}])
            # Before the 30 s wait runs out: the commit itself wakes the other replica.
            response = await asyncio.wait_for(poll, timeout=20)
            assert [r["record_id"] for r in response.json()["data"]] == [f"r{n}"]
            position = response.json()["position"]


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

        # A subscriber sees and re-drives its own subscriptions' only: the topic's owner
        # (not the webhook's) gets a 404 naming it, and nothing of it when naming none.
        own = await hub.client.get(
            f"{BASE}/webhooks/dead-letters",
            params={"subscription_id": sub["id"]},
            headers=agency_headers(hub, reader),
        )
        assert [d["record_id"] for d in own.json()["data"]] == ["d1"]
        not_theirs = await hub.client.post(
            f"{BASE}/webhooks/redrive",
            json={"subscription_id": sub["id"]},
            headers=agency_headers(hub, owner),
        )
        assert not_theirs.status_code == 404
        owners = await hub.client.get(
            f"{BASE}/webhooks/dead-letters", headers=agency_headers(hub, owner)
        )
        assert owners.status_code == 200 and owners.json()["data"] == []
        owners_all = await hub.client.post(
            f"{BASE}/webhooks/redrive", json={}, headers=agency_headers(hub, owner)
        )
        assert owners_all.json() == {"redriven": 0}
        redriven = await hub.client.post(
            f"{BASE}/webhooks/redrive",
            json={"subscription_id": sub["id"], "seq": letters[0]["seq"]},
            headers=hub.operator(),
        )
        assert redriven.json() == {"redriven": 1}
        await wait_for(lambda: _webhook_status(hub, topic, reader, "d1", "delivered"), timeout=15)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == 4
