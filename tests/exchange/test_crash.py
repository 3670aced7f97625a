"""SIGKILL while 50,000 records are being published and delivered: nothing acknowledged
is lost; every feed holds each accepted record exactly once; webhooks deliver each at
least once, always under the same webhook id."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
import pytest

from govhub_common.testing import wait_for
from tests.exchange.support import ENTERPRISE_SCHEMA, enterprise
from tests.exchange.webhook_receiver import WebhookReceiver

GOVHUB = str(Path(sys.executable).parent / "govhub")
TOTAL, BATCH = 50_000, 1_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.base = f"http://127.0.0.1:{port}/exchange/v1"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            GOVHUB,
            "run",
            "--target",
            "exchange",
            "--port",
            str(self.port),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"http://127.0.0.1:{self.port}/exchange/readyz")
                    return response.status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(ready, timeout=60, interval=0.2)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), timeout=30)


@pytest.mark.slow
# 50,000 webhooks, one POST per record, to a receiver in this process: about 4 minutes on
# 2 cores, too close to the suite's default 300 s limit.
@pytest.mark.timeout(900)
async def test_sigkill_during_publish_and_delivery_loses_nothing_acknowledged(
    fresh_db_url: str, amqp_url: str, tmp_path: Path
) -> None:
    exchange_name = f"govhub.crash.{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GOVHUB_ENVIRONMENT": "test",
        "GOVHUB_HOME": str(tmp_path),
        "GOVHUB_DATABASE_URL": fresh_db_url,
        "GOVHUB_AMQP_URL": amqp_url,
        "GOVHUB_AMQP_EXCHANGE": exchange_name,
        "GOVHUB_AMQP_QUEUE_PREFIX": exchange_name + ".",
        # The killed hub cannot clean up; the restarted one removes the same queues.
        "GOVHUB_AMQP_DELETE_QUEUES_AT_STOP": "true",
        "GOVHUB_LOG_LEVEL": "WARNING",
        "GOVHUB_WEBHOOK_TIMEOUT_SECONDS": "2",
        "GOVHUB_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",  # the receiver's address
        "GOVHUB_WEBHOOK_LEASE_SECONDS": "15",
        "GOVHUB_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        "GOVHUB_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
        "GOVHUB_WEBHOOK_MAX_ATTEMPTS": "20",
        "GOVHUB_WEBHOOK_CONCURRENCY": "32",
        "GOVHUB_WEBHOOK_SUBSCRIPTION_CONCURRENCY": "32",  # one webhook subscriber here
    }
    hub = HubProcess(env, free_port())
    await hub.start()
    batches = [
        orjson.dumps(
            [{"record_id": f"K{i:06d}", "data": enterprise(i)} for i in range(b, b + BATCH)]
        )
        for b in range(0, TOTAL, BATCH)
    ]
    acknowledged: set[str] = set()
    try:
        async with httpx.AsyncClient(timeout=60) as client, WebhookReceiver() as receiver:
            operator = await _token(
                client, hub, "operator", (tmp_path / "operator-secret").read_text().strip()
            )
            amr = await _agency(
                client, hub, operator, "k-amr", ["exchange:publish", "exchange:catalog"]
            )
            ltax = await _agency(client, hub, operator, "k-ltax", ["exchange:subscribe"])
            ntax = await _agency(client, hub, operator, "k-ntax", ["exchange:subscribe"])
            topic = "crash_enterprises"
            await _call(
                client,
                "POST",
                f"{hub.base}/topics",
                amr,
                json={
                    "code": topic,
                    "title": "企业开业登记",
                    "sharing_type": "unconditional",
                    "schema": ENTERPRISE_SCHEMA,
                },
            )
            feed_sub = await _call(
                client,
                "POST",
                f"{hub.base}/subscriptions",
                ltax,
                json={"topic": topic, "purpose": "比对", "items": ["uscc", "name"]},
            )
            hook_sub = await _call(
                client,
                "POST",
                f"{hub.base}/subscriptions",
                ntax,
                json={"topic": topic, "purpose": "比对", "items": ["uscc"]},
            )
            await _call(
                client,
                "PUT",
                f"{hub.base}/subscriptions/{hook_sub['id']}/webhook",
                ntax,
                json={"url": receiver.url},
            )

            async def publish(body: bytes) -> bool:
                try:
                    response = await client.post(
                        f"{hub.base}/topics/{topic}/records",
                        content=body,
                        headers={**amr, "content-type": "application/json"},
                    )
                except httpx.HTTPError:
                    return False  # not acknowledged: the publisher retries
                if response.status_code != 200:
                    return False
                result = response.json()
                assert result["counts"]["rejected"] == 0
                acknowledged.update(r["record_id"] for r in result["accepted"])
                acknowledged.update(r["record_id"] for r in result["duplicates"])
                return True

            # Publish with two concurrent publishers, killing the hub mid-way.
            pending = list(batches)
            in_flight: list[asyncio.Task[bool]] = []
            done_before_kill = 0
            while pending and done_before_kill < 20:
                in_flight = [asyncio.create_task(publish(pending.pop(0))) for _ in range(2)]
                done_before_kill += sum(await asyncio.gather(*in_flight))
            in_flight = [asyncio.create_task(publish(b)) for b in pending[:2]]
            await asyncio.sleep(0.05)  # let those two reach the hub, then kill it under them
            await hub.kill()
            outcomes = await asyncio.gather(*in_flight)
            retry = [b for b, ok in zip(pending[:2], outcomes, strict=True) if not ok]
            pending = retry + pending[2:]
            # The publisher cannot know which batches of the lost replies committed; it
            # re-sends them, and the hub reports those records as duplicates.
            await hub.start()
            for body in pending:
                assert await publish(body)
            assert len(acknowledged) == TOTAL

            # Feed: every accepted record exactly once.
            seen: dict[str, int] = defaultdict(int)
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                page = await _call(
                    client,
                    "GET",
                    f"{hub.base}/subscriptions/{feed_sub['id']}/records",
                    ltax,
                    params=params,
                )
                for record in page["data"]:
                    seen[record["record_id"]] += 1
                cursor = page["next"]
                if not cursor:
                    break
            assert set(seen) == acknowledged
            assert max(seen.values()) == 1

            # Webhooks: each record at least once, always with the same webhook id.
            ids: dict[str, set[str]] = defaultdict(set)
            read = 0

            def all_webhooked() -> bool:
                nonlocal read
                for request in receiver.requests[read:]:
                    record_id = orjson.loads(request.body)["data"]["record_id"]
                    ids[record_id].add(request.headers["webhook-id"])
                    read += 1
                return len(ids) >= TOTAL

            try:
                await wait_for(all_webhooked, timeout=300, interval=0.5)
            except TimeoutError:
                pytest.fail(f"only {len(ids)} of {TOTAL} records reached the webhook")
            assert set(ids) == acknowledged
            assert all(len(v) == 1 for v in ids.values())
    finally:
        await hub.stop()
        await _delete_queues(amqp_url, exchange_name)


async def _call(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], **kw: Any
) -> Any:
    response = await client.request(method, url, headers=headers, **kw)
    assert response.status_code < 300, response.text
    return response.json()


async def _token(
    client: httpx.AsyncClient, hub: HubProcess, client_id: str, secret: str
) -> dict[str, str]:
    response = await client.post(
        f"{hub.base}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _agency(
    client: httpx.AsyncClient,
    hub: HubProcess,
    operator: dict[str, str],
    code: str,
    scopes: list[str],
) -> dict[str, str]:
    await _call(
        client, "POST", f"{hub.base}/agencies", operator, json={"code": code, "name": "测试局"}
    )
    created = await _call(
        client, "POST", f"{hub.base}/agencies/{code}/clients", operator, json={"scopes": scopes}
    )
    return await _token(client, hub, created["client_id"], created["client_secret"])


async def _delete_queues(amqp_url: str, exchange_name: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for group in ("exchange.hub-warnings",):
            for name in (f"{exchange_name}.{group}", f"{exchange_name}.{group}.dlq"):
                await channel.queue_delete(name)
        await channel.exchange_delete(exchange_name)
        await channel.exchange_delete(f"{exchange_name}.dlx")
    finally:
        await connection.close()
