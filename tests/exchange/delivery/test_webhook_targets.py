"""Where webhooks may post (issue 15): internal addresses are refused when a webhook is
set and at every delivery, redirects are not followed, and what a subscriber reads of a
failure tells nothing about the hub's networks."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from govhub_common.db import asyncpg_dsn
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


@pytest.fixture
async def default_hub(fresh_db_url: str, amqp_url: str, amqp_exchange: str) -> AsyncIterator[Hub]:
    """The exchange with the default webhook policy (no network allowed beyond it)."""
    settings = CommonSettings(
        amqp_url=amqp_url,
        amqp_exchange=amqp_exchange,
        amqp_queue_prefix=f"{amqp_exchange}.targets.",
        amqp_delete_queues_at_stop=True,
    )
    with environment({"GOVHUB_WEBHOOK_ALLOW_NETWORKS": ""}):
        hub = running_hub(fresh_db_url, target="exchange", settings=settings)
        running = await hub.__aenter__()
    try:
        yield running
    finally:
        await hub.__aexit__(None, None, None)


async def _delivery(hub: Hub, topic: str, reader: str, record_id: str) -> dict[str, Any] | None:
    rows = (
        await hub.client.get(
            f"{BASE}/deliveries",
            params={"topic": topic, "record_id": record_id},
            headers=agency_headers(hub, reader),
        )
    ).json()["data"]
    # An attempt counts from its claim; its error, once the post has finished.
    return rows[0] if rows and rows[0]["webhook_last_error"] else None


async def test_the_default_policy_refuses_internal_targets_alike(
    default_hub: Hub, fresh_db_url: str
) -> None:
    hub = default_hub
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc"])
    headers = agency_headers(hub, reader)
    async with WebhookReceiver() as receiver:
        refusals = []
        for url in (
            receiver.url,  # loopback, a port that listens
            "http://127.0.0.1:9/hook",  # loopback, a port that does not
            "http://10.0.0.1/hook",
            "http://192.168.1.1/hook",
            "http://169.254.169.254/latest/meta-data/",
            f"http://[::1]:{receiver.port}/hook",
            "http://[::ffff:127.0.0.1]/hook",
            f"http://localhost:{receiver.port}/hook",  # a name resolving to loopback
            "http://no-such-host.invalid/hook",  # a name resolving to nothing
        ):
            reply = await hub.client.put(
                f"{BASE}/subscriptions/{sub['id']}/webhook", json={"url": url}, headers=headers
            )
            assert reply.status_code == 422, (url, reply.text)
            assert [e["path"] for e in reply.json()["errors"]] == ["$.url"]
            refusals.append((reply.json()["detail"], reply.json()["errors"]))
        # One answer whatever lies behind the address: no map of the hub's networks.
        assert all(refusal == refusals[0] for refusal in refusals)

        # A webhook stored before the policy (or a name that resolves elsewhere since it
        # was set) is checked again at delivery: nothing reaches the address.
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        conn = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
        try:
            await conn.execute(
                "UPDATE exchange.subscriptions SET webhook_url = $1, webhook_secret = $2 "
                "WHERE id = $3",
                receiver.url,
                secret,
                sub["id"],
            )
        finally:
            await conn.close()
        await publish(hub, owner, topic, [{"record_id": "i1", "data": enterprise(0)}])
        attempted = await wait_for(lambda: _delivery(hub, topic, reader, "i1"), timeout=15)
        assert receiver.requests == []
    assert attempted["webhook_last_error"] == NO_ANSWER


async def test_a_redirect_is_not_followed_and_failures_show_only_a_status(hub: Hub) -> None:
    """The session hub allows 127.0.0.1/32 only (tests/exchange/conftest.py)."""
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    redirected, closed = await make_agency(hub), await make_agency(hub)
    subs = {
        agency: (await subscribe(hub, agency, topic, ["uscc"]))["id"]
        for agency in (redirected, closed)
    }
    async with WebhookReceiver(host="127.0.0.2") as inner:

        async def bounce(received: Received, writer: asyncio.StreamWriter) -> None:
            writer.write(
                f"HTTP/1.1 307 X\r\nlocation: {inner.url}\r\ncontent-length: 0\r\n\r\n".encode()
            )
            await writer.drain()

        async with WebhookReceiver(reply=bounce) as outer:
            for agency, url, status in (
                (redirected, inner.url, 422),  # the redirect's target, set directly: denied
                (redirected, outer.url, 200),
                (closed, "http://127.0.0.1:9/hook", 200),
            ):
                reply = await hub.client.put(
                    f"{BASE}/subscriptions/{subs[agency]}/webhook",
                    json={"url": url},
                    headers=agency_headers(hub, agency),
                )
                assert reply.status_code == status, reply.text
            await publish(hub, owner, topic, [{"record_id": "r1", "data": enterprise(0)}])
            bounced = await wait_for(lambda: _delivery(hub, topic, redirected, "r1"), timeout=15)
            refused = await wait_for(lambda: _delivery(hub, topic, closed, "r1"), timeout=15)
            assert outer.requests and inner.requests == []
    assert bounced["webhook_last_error"] == "HTTP 307"
    # A connection refused, as a denied address or a timeout would be: one sentence.
    assert refused["webhook_last_error"] == NO_ANSWER
