"""The development provider: JSON lines, masked logs, immediate 'delivered'."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from govhub_sms.providers.base import OutboundMessage, Provider, mask_phone
from govhub_sms.providers.log import LogProvider

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
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["text"] == msg.text
    assert record["recipient"] == "+8613800138000"
    assert record["encoding"] == "ucs2"
    assert "+86138****8000" in caplog.text
    assert "13800138000" not in caplog.text
    assert "13800138000" not in repr(msg)
