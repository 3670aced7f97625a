"""SMS fixtures. The API tests use the shared `hub` (log provider, real clock). The
sending tests use `sms_hub`: its own database, events through the real RabbitMQ, an SMPP
primary provider bound to a real SMSC peer in its own process (smpp34's server, see
providers/smsc_process.py) and a log fallback, and a clock pinned to a working morning so
the background sender never meets quiet hours; scenarios at other times go through
POST /sms/v1/dispatch {"as_of": ...}."""

from __future__ import annotations

import json
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from providers.smsc_process import SmscProcess, free_port

from govhub_common import testing
from govhub_common.clock import BUSINESS_TZ
from govhub_common.settings import CommonSettings

# The pinned "now" of sms_hub: a Monday morning in Guangzhou.
PINNED_NOW = datetime(2030, 6, 3, 10, 0, tzinfo=BUSINESS_TZ)


def random_mobile() -> str:
    return f"+86139{random.randrange(10**8):08d}"


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A business time in July 2030; each test uses its own day, so caps never overlap."""
    return datetime(2030, 7, day, hour, minute, tzinfo=BUSINESS_TZ)


@dataclass
class SmsHub:
    hub: testing.Hub
    smsc: SmscProcess
    fallback_outbox: Path

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return await self.hub.client.post(
            f"/sms{path}", json=body, headers=headers or self.hub.operator()
        )

    async def get(self, path: str, **params: Any) -> Any:
        return await self.hub.client.get(f"/sms{path}", params=params, headers=self.hub.operator())

    async def dispatch(self, as_of: datetime) -> dict[str, Any]:
        response = await self.post("/v1/dispatch", {"as_of": as_of.isoformat()})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def message(self, message_id: str) -> dict[str, Any]:
        response = await self.get(f"/v1/messages/{message_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_status(
        self, message_id: str, *statuses: str, timeout: float = 15
    ) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            message = await self.message(message_id)
            return message if message["status"] in statuses else None

        result: dict[str, Any] = await testing.wait_for(done, timeout=timeout, interval=0.05)
        return result


@pytest.fixture(scope="session")
async def sms_hub(
    admin_db_url: str, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SmsHub]:
    smsc = SmscProcess(free_port())
    await smsc.start()
    fallback = tmp_path_factory.mktemp("sms") / "fallback.jsonl"
    providers = [
        {
            "name": "primary",
            "kind": "smpp",
            "host": "127.0.0.1",
            "port": smsc.port,
            "system_id": "govhub",
            "password": "secret",
            "system_type": "GOVHUB",
            "source_addr": "10690000",
            "submit_timeout_s": 5,
            "bind_wait_s": 10,
            "rate_per_s": 2000,
            "burst": 100,
        },
        {"name": "fallback", "kind": "log", "path": str(fallback)},
    ]
    exchange = f"govhub.test.sms.{random.randrange(16**8):08x}"
    settings = CommonSettings(
        amqp_url=amqp_url, amqp_exchange=exchange, amqp_queue_prefix=f"{exchange}."
    )
    url = await testing.create_test_database(admin_db_url)
    saved = os.environ.get("GOVHUB_SMS_PROVIDERS")
    os.environ["GOVHUB_SMS_PROVIDERS"] = json.dumps(providers)
    try:
        async with testing.running_hub(url, target="sms-gateway", settings=settings) as hub:
            # The service settings were read when the app was made; leave the shared env alone.
            _restore(saved)
            hub.runtime.clock.set(PINNED_NOW)
            yield SmsHub(hub, smsc, fallback)
            await hub.runtime.bus.delete_declared_queues()  # type: ignore[attr-defined]
    finally:
        _restore(saved)
        await smsc.kill()
        await testing.drop_test_database(admin_db_url, url)


def _restore(saved: str | None) -> None:
    if saved is None:
        os.environ.pop("GOVHUB_SMS_PROVIDERS", None)
    else:
        os.environ["GOVHUB_SMS_PROVIDERS"] = saved
