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

import pytest

from govhub_common import testing
from govhub_common.settings import CommonSettings
from govhub_common.testing import free_port
from tests.sms.providers.smsc_process import SmscProcess
from tests.sms.support import PINNED_NOW, SmsHub


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
        amqp_url=amqp_url,
        amqp_exchange=exchange,
        amqp_queue_prefix=f"{exchange}.",
        amqp_delete_queues_at_stop=True,
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
    finally:
        _restore(saved)
        await smsc.kill()
        await testing.drop_test_database(admin_db_url, url)


def _restore(saved: str | None) -> None:
    if saved is None:
        os.environ.pop("GOVHUB_SMS_PROVIDERS", None)
    else:
        os.environ["GOVHUB_SMS_PROVIDERS"] = saved
