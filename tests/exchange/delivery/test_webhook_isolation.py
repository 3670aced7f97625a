"""Webhooks under slow and failing receivers (issue 13): one subscriber's endpoint never
delays another's deliveries, a failing endpoint is backed off then paused with nothing
lost, resuming delivers what waited, and a webhook subscriber's lag counts its webhooks.

A hub of its own with small limits (the session hub's settings are fixed at its start)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from govhub_common.event_contracts import parse_data
from govhub_common.events import CloudEvent
from govhub_common.settings import CommonSettings
from govhub_common.testing import Hub, running_hub, wait_for
from govhub_exchange.delivery.targets import NO_ANSWER
from tests.exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    environment,
    make_agency,
    make_topic,
    publish,
    subscribe,
)
from tests.exchange.webhook_receiver import Received, WebhookReceiver

DEADLINE_SECONDS = 1.0
PAUSE_AFTER_FAILURES = 6
SETTINGS = {
    "GOVHUB_WEBHOOK_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
    "GOVHUB_WEBHOOK_LEASE_SECONDS": "10",
    "GOVHUB_WEBHOOK_SUBSCRIPTION_CONCURRENCY": "4",
    "GOVHUB_WEBHOOK_PAUSE_AFTER_FAILURES": str(PAUSE_AFTER_FAILURES),
    # Retries never run out here: a record is delivered, or waits.
    "GOVHUB_WEBHOOK_MAX_ATTEMPTS": "1000",
    "GOVHUB_WEBHOOK_BACKOFF_BASE_SECONDS": "0.05",
    "GOVHUB_WEBHOOK_BACKOFF_MAX_SECONDS": "0.5",
    "GOVHUB_WEBHOOK_POLL_SECONDS": "0.05",
    "GOVHUB_LAG_REFRESH_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
async def small_hub(
    fresh_module_db_url: str, amqp_url: str, amqp_exchange: str
) -> AsyncIterator[Hub]:
    # The exchange alone, as deployed (its events through RabbitMQ): the other services'
    # consumers would share this event loop with the receivers and the measurements.
    settings = CommonSettings(
        amqp_url=amqp_url,
        amqp_exchange=amqp_exchange,
        amqp_queue_prefix=f"{amqp_exchange}.isolation.",
        amqp_delete_queues_at_stop=True,
    )
    with environment(SETTINGS):
        hub = running_hub(fresh_module_db_url, target="exchange", settings=settings)
        running = await hub.__aenter__()
    try:
        yield running
    finally:
        await hub.__aexit__(None, None, None)


@pytest.fixture(scope="module")
async def fresh_module_db_url(admin_db_url: str) -> AsyncIterator[str]:
    from govhub_common import testing

    url = await testing.create_test_database(admin_db_url)
    yield url
    await testing.drop_test_database(admin_db_url, url)


def latencies(receiver: WebhookReceiver, published_at: dict[str, float]) -> list[float]:
    """Seconds from each record's publish to its first arrival at the receiver."""
    arrived: dict[str, float] = {}
    for request in receiver.requests:
        arrived.setdefault(record_id_of(request), request.at)
    return sorted(at - published_at[record_id] for record_id, at in arrived.items())


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def record_id_of(received: Received) -> str:
    return str(orjson.loads(received.body)["data"]["record_id"])


def seq_of(received: Received) -> int:
    return int(orjson.loads(received.body)["data"]["seq"])


async def trickle(received: Received, writer: asyncio.StreamWriter) -> None:
    """200 at once, then the body a byte a second: httpx's per-read timeout never trips."""
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
    await writer.drain()
    for _ in range(100):
        await asyncio.sleep(1.0)
        writer.write(b".")
        await writer.drain()


def flaky(seed: int) -> Any:
    rng = random.Random(seed)

    async def reply(received: Received, writer: asyncio.StreamWriter) -> None:
        """Slow replies, 30 % of them 500s."""
        await asyncio.sleep(rng.uniform(0.1, 0.6))
        status = 500 if rng.random() < 0.3 else 200
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 4\r\n\r\nbusy".encode())
        await writer.drain()

    return reply


async def set_webhook(hub: Hub, agency: str, subscription_id: int, url: str) -> None:
    response = await hub.client.put(
        f"{BASE}/subscriptions/{subscription_id}/webhook",
        json={"url": url},
        headers=agency_headers(hub, agency),
    )
    assert response.status_code == 200, response.text


async def get_subscription(hub: Hub, agency: str, subscription_id: int) -> dict[str, Any]:
    response = await hub.client.get(
        f"{BASE}/subscriptions/{subscription_id}", headers=agency_headers(hub, agency)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def delivery_statuses(hub: Hub, subscription_id: int) -> dict[int, str]:
    async with hub.runtime.db.session() as session:
        rows = await session.execute(
            sa.text(
                "SELECT seq, status FROM exchange.webhook_deliveries WHERE subscription_id = :id"
            ),
            {"id": subscription_id},
        )
        return {row.seq: row.status for row in rows}


async def test_a_trickling_and_a_flaky_receiver_do_not_delay_a_healthy_one(
    small_hub: Hub,
) -> None:
    hub = small_hub
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    agencies = {name: await make_agency(hub) for name in ("healthy", "trickling", "flaky")}
    subs = {
        name: (await subscribe(hub, agency, topic, ["uscc"]))["id"]
        for name, agency in agencies.items()
    }
    # The yardstick: a topic of the same owner, published with the same rhythm, with one
    # healthy subscriber and no slow ones. The machine's load slows both alike.
    control_topic = await make_topic(hub, owner)
    control_agency = await make_agency(hub)
    control_sub = (await subscribe(hub, control_agency, control_topic, ["uscc"]))["id"]
    total, per_batch = 300, 6
    published_at: dict[str, float] = {}
    async with (
        WebhookReceiver() as healthy,
        WebhookReceiver(reply=trickle) as trickling,
        WebhookReceiver(reply=flaky(seed=13)) as flaky_receiver,
        WebhookReceiver() as control,
    ):
        receivers = {"healthy": healthy, "trickling": trickling, "flaky": flaky_receiver}
        for name, receiver in receivers.items():
            await set_webhook(hub, agencies[name], subs[name], receiver.url)
        await set_webhook(hub, control_agency, control_sub, control.url)

        # About 5 s of publishing, while the trickling endpoint is still being tried.
        for start in range(0, total, per_batch):
            for prefix, to in (("L", topic), ("C", control_topic)):
                ids = [f"{prefix}{n:04d}" for n in range(start, start + per_batch)]
                published_at.update(dict.fromkeys(ids, time.monotonic()))
                await publish(
                    hub,
                    owner,
                    to,
                    [{"record_id": i, "data": enterprise(n)} for n, i in enumerate(ids)],
                )
            await asyncio.sleep(0.1)

        for receiver in (healthy, control):
            await wait_for(
                lambda r=receiver: len({record_id_of(q) for q in r.requests}) == total,
                timeout=60,
            )
        healthy_p90, control_p90 = (
            percentile(latencies(receiver, published_at), 0.9) for receiver in (healthy, control)
        )
        # Behind the trickling endpoint, each record would wait out at least one of its
        # deadlines, and the waits would add up over the 300; beside it, a healthy
        # subscriber fares as one of a topic with no slow subscriber does.
        assert healthy_p90 < control_p90 + DEADLINE_SECONDS, (
            f"healthy p90 {healthy_p90:.2f} s, without slow neighbours {control_p90:.2f} s"
        )
        # The slow ones were being tried meanwhile.
        assert trickling.requests and flaky_receiver.requests

        # The trickling endpoint never answers within the deadline: paused, all waiting.
        trickling_sub = await wait_for(
            lambda: _paused(hub, agencies["trickling"], subs["trickling"]), timeout=15
        )
        # (What it is told of the cause is one sentence: the deadline is in the hub's log.)
        assert NO_ANSWER in trickling_sub["webhook_paused_reason"]

        # The flaky one makes progress meanwhile, backed off after each failure.
        assert "delivered" in (await delivery_statuses(hub, subs["flaky"])).values()

    # Nothing lost: every record has each subscriber's delivery, delivered (and then it
    # reached the receiver) or still pending; none dead.
    for name, receiver in receivers.items():
        statuses = await delivery_statuses(hub, subs[name])
        assert len(statuses) == total, name
        assert set(statuses.values()) <= {"delivered", "pending"}, name
        delivered = {seq for seq, status in statuses.items() if status == "delivered"}
        assert delivered <= {seq_of(r) for r in receiver.requests}, name
    assert set((await delivery_statuses(hub, subs["trickling"])).values()) == {"pending"}


async def _paused(hub: Hub, agency: str, subscription_id: int) -> dict[str, Any] | None:
    sub = await get_subscription(hub, agency, subscription_id)
    return sub if sub["webhook_status"] == "paused" else None


async def test_a_failing_endpoint_is_paused_then_resumed_with_nothing_lost(
    small_hub: Hub,
) -> None:
    hub = small_hub
    owner, reader, neighbour = [await make_agency(hub) for _ in range(3)]
    topic = await make_topic(hub, owner)
    sub = (await subscribe(hub, reader, topic, ["uscc"]))["id"]
    other = (await subscribe(hub, neighbour, topic, ["uscc"]))["id"]
    failing = True

    async def down_then_up(received: Received, writer: asyncio.StreamWriter) -> None:
        status = 500 if failing else 200
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
        await writer.drain()

    async with WebhookReceiver(reply=down_then_up) as receiver, WebhookReceiver() as healthy:
        await set_webhook(hub, reader, sub, receiver.url)
        await set_webhook(hub, neighbour, other, healthy.url)
        await publish(
            hub,
            owner,
            topic,
            [{"record_id": f"P{n}", "data": enterprise(n)} for n in range(10)],
        )
        paused = await wait_for(lambda: _paused(hub, reader, sub), timeout=15)
        assert paused["webhook_paused_reason"].startswith(
            f"{PAUSE_AFTER_FAILURES} consecutive failed attempts"
        )
        assert paused["webhook_paused_reason"].endswith("HTTP 500")
        assert paused["webhook_paused_since"] is not None
        assert paused["webhook_consecutive_failures"] >= PAUSE_AFTER_FAILURES
        # Backed off then paused: a probe at a time, not ten posts per round.
        assert len(receiver.requests) < PAUSE_AFTER_FAILURES + 4
        # The neighbour's webhook is unaffected.
        await wait_for(lambda: len(healthy.requests) == 10, timeout=10)

        # Paused: nothing is posted, nothing is dropped.
        attempts = len(receiver.requests)
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == attempts
        assert set((await delivery_statuses(hub, sub)).values()) == {"pending"}

        # The subscriber is told: audit entry, event in the outbox, metric.
        audit = (
            await hub.client.get(
                f"{BASE}/audit",
                params={"action": "subscription.webhook_paused", "agency": reader},
                headers=hub.operator(),
            )
        ).json()["data"]
        assert [e["details"]["subscription_id"] for e in audit] == [sub]
        assert await _outbox_mentions(hub, "exchange.webhook.paused", sub)

        async def paused_metric() -> bool:
            text = (await hub.client.get("/exchange/metrics")).text
            return (
                (
                    f'govhub_exchange_webhook_paused{{subscriber="{reader}",'
                    f'subscription="{sub}",topic="{topic}"}} 1.0'
                )
                in text
                and f'govhub_exchange_webhook_pauses_total{{subscriber="{reader}"}} 1.0' in text
            )

        # Set at the pause; a gauge refresh that read the subscription just before it sets
        # it from the database again within one refresh (lag_refresh_seconds, 5).
        await wait_for(paused_metric, timeout=15)

        # Only the subscriber (or an operator) resumes.
        stranger = await make_agency(hub)
        refused = await hub.client.post(
            f"{BASE}/subscriptions/{sub}/webhook/resume", headers=agency_headers(hub, stranger)
        )
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("application/problem+json")

        failing = False  # the subscriber fixed its endpoint
        resumed = await hub.client.post(
            f"{BASE}/subscriptions/{sub}/webhook/resume", headers=agency_headers(hub, reader)
        )
        assert resumed.status_code == 200, resumed.text
        body = resumed.json()
        assert body["webhook_status"] == "active" and body["webhook_paused_reason"] is None
        assert body["webhook_consecutive_failures"] == 0

        async def all_delivered() -> bool:
            return set((await delivery_statuses(hub, sub)).values()) == {"delivered"}

        await wait_for(all_delivered, timeout=15)
        assert {record_id_of(r) for r in receiver.requests} == {f"P{n}" for n in range(10)}
        assert await _outbox_mentions(hub, "exchange.webhook.resumed", sub)
    stats = (
        await hub.client.get(
            f"{BASE}/subscriptions/{sub}/stats", headers=agency_headers(hub, reader)
        )
    ).json()
    assert stats["lag_records"] == 0 and stats["webhook"]["delivered"]["count"] == 10


async def _outbox_mentions(hub: Hub, event_type: str, subscription_id: int) -> bool:
    """An event of the type about the subscription was staged, each such event as its
    contract says (govhub_common.event_contracts)."""
    async with hub.runtime.db.session() as session:
        payloads = (
            await session.execute(
                sa.text("SELECT payload::text FROM exchange.outbox WHERE type = :t"),
                {"t": event_type},
            )
        ).scalars()
        events = [CloudEvent.from_json(payload) for payload in payloads]
    for event in events:
        parse_data(event)  # raises, naming the field, when the event breaks its contract
    return any(w["subscription_id"] == subscription_id for e in events for w in e.data["webhooks"])


async def test_a_webhook_only_subscription_fully_delivered_shows_no_lag(small_hub: Hub) -> None:
    hub = small_hub
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = (await subscribe(hub, reader, topic, ["uscc"]))["id"]
    async with WebhookReceiver() as receiver:
        await set_webhook(hub, reader, sub, receiver.url)
        for batch in range(5):
            await publish(
                hub,
                owner,
                topic,
                [{"record_id": f"W{batch}-{n}", "data": enterprise(n)} for n in range(20)],
            )
        await wait_for(lambda: len(receiver.requests) >= 100, timeout=15)

        async def caught_up() -> dict[str, Any] | None:
            stats = (
                await hub.client.get(
                    f"{BASE}/subscriptions/{sub}/stats", headers=agency_headers(hub, reader)
                )
            ).json()
            return stats if stats["webhook"].get("delivered", {}).get("count") == 100 else None

        stats = await wait_for(caught_up, timeout=10)
    # The feed was never read: the position is the webhooks'.
    assert stats["acked_seq"] == 0 and stats["webhook_delivered_seq"] == stats["head_seq"] == 100
    assert stats["lag_records"] == 0 and stats["lag_seconds"] == 0
    assert (await get_subscription(hub, reader, sub))["webhook_delivered_seq"] == 100

    async def no_lag_exported() -> bool:
        text = (await hub.client.get("/exchange/metrics")).text
        labels = f'subscriber="{reader}",subscription="{sub}",topic="{topic}"'
        return (
            f"govhub_exchange_subscription_lag_records{{{labels}}} 0.0" in text
            and f"govhub_exchange_subscription_lag_seconds{{{labels}}} 0.0" in text
        )

    # The lag gauges are set by a refresh every lag_refresh_seconds (5): wait for a few.
    await wait_for(no_lag_exported, timeout=15)
