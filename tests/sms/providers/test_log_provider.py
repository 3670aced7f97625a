"""The development provider: JSON lines, masked logs, immediate 'delivered'."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from govhub_common import testing
from govhub_sms.providers.base import OutboundMessage, Provider, mask_phone
from govhub_sms.providers.log import LogProvider
from tests.sms.support import PINNED_NOW

from .smsc_process import Sink


def test_mask_phone() -> None:
    assert mask_phone("+8613800138000") == "+86138****8000"
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("10086") == "***86"
    assert mask_phone("110") == "***"


async def test_log_provider(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "out" / "sms.jsonl"
    provider = LogProvider(path)
    assert isinstance(provider, Provider)
    sink = Sink()
    await provider.start(sink.on_report, sink.on_inbound)
    msg = OutboundMessage.build("m-1", "+8613800138000", "【广州市政务服务数据管理局】您好")
    result = await provider.submit(msg)
    await sink.wait(lambda s: len(s.reports) == 1)
    await provider.close()

    assert result.parts == 1 and result.provider_message_id
    [report] = sink.reports
    assert (report.provider_message_id, report.status, report.message_id) == (
        result.provider_message_id,
        "delivered",
        "m-1",
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["text"] == msg.text
    assert record["recipient"] == "+8613800138000"
    assert record["encoding"] == "ucs2"
    assert "+86138****8000" in caplog.text
    assert "13800138000" not in caplog.text
    assert "13800138000" not in repr(msg)


async def test_the_log_providers_file_is_private(admin_db_url: str, govhub_home: Path) -> None:
    """The file holds full numbers and texts: 0600, even when it was there before with a
    laxer mode, after an SMS sent through the API (issue 15, point 11)."""
    # The hub's default: GOVHUB_HOME/sms/outbox.jsonl, here as an earlier version left it.
    outbox = govhub_home / "sms" / "outbox.jsonl"
    outbox.parent.mkdir(exist_ok=True)
    outbox.touch()
    os.chmod(outbox, 0o644)
    url = await testing.create_test_database(admin_db_url)
    try:
        async with testing.running_hub(url) as hub:
            hub.runtime.clock.set(PINNED_NOW)  # a working morning: no quiet hours
            sent = await hub.client.post(
                "/sms/v1/messages",
                json={
                    "recipient": "+8613800138000",
                    "template": "tax_registration_reminder",
                    "params": {"name": "广州市海创信息有限公司", "deadline": "2030年6月30日"},
                },
                headers=hub.auth("gz-ltax", "sms:send"),
            )
            assert sent.status_code in (200, 201, 202), sent.text
            message_id = sent.json()["id"]

            async def delivered() -> bool:
                reply = await hub.client.get(
                    f"/sms/v1/messages/{message_id}", headers=hub.operator()
                )
                return bool(reply.json()["status"] == "delivered")

            await testing.wait_for(delivered, timeout=30)
    finally:
        await testing.drop_test_database(admin_db_url, url)
    assert message_id in outbox.read_text(encoding="utf-8")
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600
