"""SmppProvider against a real SMPP peer (smpp34's server, in its own process, on loopback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from govhub_common.testing import free_port
from govhub_sms.providers.base import OutboundMessage, ProviderError, RateLimiter
from govhub_sms.providers.smpp import SmppProvider
from govhub_sms.text import encode_gsm7

from .smsc_process import Sink, SmscProcess, test_config

pytestmark = pytest.mark.timeout(60)

SmscFactory = Callable[..., Awaitable[SmscProcess]]
ProviderFactory = Callable[..., Awaitable[tuple[SmppProvider, Sink]]]

PHONE = "+8613800138000"
SIGNATURE = "【广州市政务服务数据管理局】"


@pytest.mark.parametrize(
    ("id_style", "expected_id"),
    [("mixed", "1A2B"), ("hex", "1A2B"), ("decimal", "6699")],
)
async def test_bind_submit_and_delivered_receipt(
    smsc_factory: SmscFactory, provider_factory: ProviderFactory, id_style: str, expected_id: str
) -> None:
    # "mixed": submit_sm_resp says 1A2B (hex), the receipt says id:6699 (decimal).
    smsc = await smsc_factory("--id-style", id_style)
    provider, sink = await provider_factory(test_config(smsc.port))
    assert await provider.wait_bound(10)
    [bound] = await smsc.wait_for(lambda e: e["event"] == "bound")
    assert bound["system_id"] == "govhub"

    msg = OutboundMessage.build("m-1", PHONE, "Your filing is due on 20 May. Reply TD to stop.")
    result = await provider.submit(msg)
    assert result.provider_message_id == expected_id
    assert result.parts == 1

    await sink.wait(lambda s: len(s.reports) == 1)
    [report] = sink.reports
    assert report.provider_message_id == expected_id
    assert report.status == "delivered"
    assert report.message_id == "m-1"
    assert report.error_code is None
    assert report.done_at is not None

    [submit] = await smsc.wait_for(lambda e: e["event"] == "submit")
    assert submit["data_coding"] == 0x00
    assert submit["esm_class"] == 0x00
    assert submit["registered_delivery"] == 1
    assert submit["dest_ton"] == 1
    assert bytes.fromhex(submit["short_message"]) == encode_gsm7(msg.text)


async def test_72_char_chinese_text_goes_as_two_udh_parts(
    smsc: SmscProcess, provider_factory: ProviderFactory
) -> None:
    body = "您的企业尚未办理税务登记，请于三十日内到主管税务机关办理，逾期将依法处理。详询一二三六六热线谢谢"
    text = SIGNATURE + body
    text = text + "请" * (72 - len(text))
    assert len(text) == 72
    provider, sink = await provider_factory(test_config(smsc.port))
    msg = OutboundMessage.build("m-long", PHONE, text)
    assert (msg.encoding, msg.segments) == ("ucs2", 2)

    result = await provider.submit(msg)
    assert result.parts == 2

    parts = await smsc.wait_for(lambda e: e["event"] == "submit", count=2)
    assert len(parts) == 2
    assert result.provider_message_id == parts[0]["message_id"]
    payloads = [bytes.fromhex(p["short_message"]) for p in parts]
    ref = payloads[0][3]
    for i, (part, payload) in enumerate(zip(parts, payloads, strict=True), start=1):
        assert part["esm_class"] & 0x40
        assert part["data_coding"] == 0x08
        assert part["registered_delivery"] == 1
        assert payload[:6] == bytes([0x05, 0x00, 0x03, ref, 2, i])
    texts = [p[6:].decode("utf-16-be") for p in payloads]
    assert len(texts[0]) == 67 and len(texts[1]) == 5
    assert "".join(texts) == text

    # one report for the message, once both parts' receipts are in
    await sink.wait(lambda s: len(s.reports) == 1)
    await smsc.wait_for(lambda e: e["event"] == "receipt_sent", count=2)
    [report] = sink.reports
    assert (report.provider_message_id, report.status, report.message_id) == (
        result.provider_message_id,
        "delivered",
        "m-long",
    )


@pytest.mark.parametrize(
    ("stat", "err", "status"),
    [("UNDELIV", "012", "failed"), ("EXPIRED", "000", "expired"), ("REJECTD", "000", "failed")],
)
async def test_failed_receipts(
    smsc: SmscProcess, provider_factory: ProviderFactory, stat: str, err: str, status: str
) -> None:
    provider, sink = await provider_factory(test_config(smsc.port))
    await smsc.command(cmd="stat", stat=stat, err=err)
    result = await provider.submit(OutboundMessage.build("m-f", PHONE, "hello"))
    await sink.wait(lambda s: len(s.reports) == 1)
    [report] = sink.reports
    assert report.provider_message_id == result.provider_message_id
    assert report.status == status
    assert report.error_code == (err if err.strip("0") else stat)


@pytest.mark.parametrize(
    ("command_status", "kind", "retryable"),
    [
        (0x58, "throttled", True),
        (0x14, "queue_full", True),
        (0x08, "system", True),
        (0x0B, "rejected", False),
    ],
)
async def test_submit_sm_resp_status_maps_to_error_kind(
    smsc: SmscProcess,
    provider_factory: ProviderFactory,
    command_status: int,
    kind: str,
    retryable: bool,
) -> None:
    limiter = RateLimiter(rate_per_s=1000, burst=50)
    provider, _ = await provider_factory(test_config(smsc.port), limiter=limiter)
    await smsc.command(cmd="reject", status=command_status)
    with pytest.raises(ProviderError) as info:
        await provider.submit(OutboundMessage.build("m-x", PHONE, "hello"))
    assert info.value.kind == kind
    assert info.value.retryable is retryable
    assert info.value.command_status == command_status
    if kind == "throttled":
        assert limiter.throttled_count == 1
        assert limiter.current_rate == pytest.approx(500)
    else:
        assert limiter.current_rate == 1000
    # the bind is fine: the next message goes through
    assert (await provider.submit(OutboundMessage.build("m-y", PHONE, "hello"))).provider_message_id


async def test_throttling_slows_the_limiter_down(
    smsc: SmscProcess, provider_factory: ProviderFactory
) -> None:
    limiter = RateLimiter(rate_per_s=400, burst=10, recovery_interval_s=60)
    provider, _ = await provider_factory(test_config(smsc.port), limiter=limiter)
    await smsc.command(cmd="reject", status=0x58, count=3)
    kinds = []
    for i in range(3):
        with pytest.raises(ProviderError) as info:
            await provider.submit(OutboundMessage.build(f"m-{i}", PHONE, "hello"))
        kinds.append(info.value.kind)
    assert kinds == ["throttled"] * 3
    assert limiter.current_rate == pytest.approx(50)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i in range(5):
        await provider.submit(OutboundMessage.build(f"ok-{i}", PHONE, "hello"))
    # the saved-up burst was dropped: 5 tokens at 50/s take about 0.1 s, not 0
    assert loop.time() - t0 >= 0.08


async def test_unanswered_submit_is_ambiguous_and_not_retryable(
    smsc: SmscProcess, provider_factory: ProviderFactory
) -> None:
    # The held submit waits out the whole timeout; the next one must be answered within
    # it, so it is a loaded machine's allowance for one loopback answer, not 0.3 s.
    provider, _ = await provider_factory(test_config(smsc.port, submit_timeout_s=2))
    await smsc.command(cmd="hold", count=1)
    with pytest.raises(ProviderError) as info:
        await provider.submit(OutboundMessage.build("m-h", PHONE, "hello"))
    assert info.value.kind == "ambiguous_timeout"
    assert info.value.retryable is False
    assert (await provider.submit(OutboundMessage.build("m-i", PHONE, "hello"))).provider_message_id


async def test_server_drop_mid_batch_then_rebind(
    smsc: SmscProcess, provider_factory: ProviderFactory
) -> None:
    provider, sink = await provider_factory(test_config(smsc.port, window=4))
    assert await provider.wait_bound(10)
    await smsc.command(cmd="hold", count=4)

    tasks = [
        asyncio.create_task(provider.submit(OutboundMessage.build(f"b-{i}", PHONE, f"batch {i}")))
        for i in range(10)
    ]
    # the window lets exactly four out; the SMSC holds them
    await smsc.wait_for(lambda e: e["event"] == "submit" and e["answer"] == "held", count=4)
    await asyncio.sleep(0)
    assert len(smsc.submits()) == 4

    await smsc.kill()
    # the four in flight fail at once; the six queued wait for the rebind
    done, _ = await asyncio.wait(tasks[:4], timeout=5)
    assert len(done) == 4
    for t in tasks[:4]:
        exc = t.exception()
        assert isinstance(exc, ProviderError)
        # they were on the wire, so the SMSC may have them: not retried blindly
        assert exc.kind == "ambiguous_timeout"
        assert exc.retryable is False
    assert not provider.bound

    await smsc.start()  # same port
    assert await provider.wait_bound(10)
    results = await asyncio.gather(*tasks[4:])
    assert all(r.provider_message_id for r in results)
    assert provider.binds == 2
    assert provider.disconnects == 1

    after = await provider.submit(OutboundMessage.build("after", PHONE, "after the rebind"))
    await sink.wait(lambda s: any(r.message_id == "after" for r in s.reports))
    assert [r.status for r in sink.reports if r.message_id == "after"] == ["delivered"]
    assert after.provider_message_id


async def test_submit_without_smsc_fails_as_disconnected(provider_factory: ProviderFactory) -> None:
    provider, _ = await provider_factory(test_config(free_port(), bind_wait_s=0.3))
    with pytest.raises(ProviderError) as info:
        await provider.submit(OutboundMessage.build("m-d", PHONE, "hello"))
    assert info.value.kind == "disconnected"
    assert info.value.retryable is True


async def test_inbound_td_reaches_on_inbound(
    smsc: SmscProcess, provider_factory: ProviderFactory
) -> None:
    provider, sink = await provider_factory(test_config(smsc.port))
    assert await provider.wait_bound(10)
    await smsc.wait_for(lambda e: e["event"] == "bound")
    await smsc.command(cmd="mo", source="8613800138000", text="TD")
    await smsc.command(cmd="mo", source="8613900139000", text="退订")
    await sink.wait(lambda s: len(s.inbound) == 2)
    assert [(m.sender, m.text, m.recipient) for m in sink.inbound] == [
        ("+8613800138000", "TD", "10690000"),
        ("+8613900139000", "退订", "10690000"),
    ]
    assert sink.reports == []


async def test_receipt_with_unknown_id_is_reported_after_grace(
    smsc: SmscProcess, provider_factory: ProviderFactory
) -> None:
    provider, sink = await provider_factory(test_config(smsc.port, orphan_grace_s=0.2))
    assert await provider.wait_bound(10)
    await smsc.wait_for(lambda e: e["event"] == "bound")
    await smsc.command(cmd="receipt", id="424242", stat="UNDELIV", err="005")
    await sink.wait(lambda s: len(s.reports) == 1)
    [report] = sink.reports
    assert (report.provider_message_id, report.status, report.error_code, report.message_id) == (
        "424242",
        "failed",
        "005",
        None,
    )


async def test_phone_numbers_are_masked_in_logs(
    smsc: SmscProcess, provider_factory: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider, sink = await provider_factory(test_config(smsc.port))
    await provider.submit(OutboundMessage.build("m-log", PHONE, "hello"))
    await smsc.command(cmd="reject", status=0x0B)
    with pytest.raises(ProviderError):
        await provider.submit(OutboundMessage.build("m-log2", PHONE, "hello"))
    await smsc.command(cmd="mo", source="8613800138000", text="TD")
    await sink.wait(lambda s: len(s.inbound) == 1 and len(s.reports) == 1)
    assert "+86138****8000" in caplog.text
    assert "13800138000" not in caplog.text


async def test_a_full_window_of_traffic_loses_no_receipt(
    smsc: SmscProcess, provider_factory: ProviderFactory
) -> None:
    provider, sink = await provider_factory(test_config(smsc.port, window=50))
    n = 600
    results = await asyncio.gather(
        *(provider.submit(OutboundMessage.build(f"w-{i}", PHONE, f"message {i}")) for i in range(n))
    )
    await sink.wait(lambda s: len(s.reports) == n, timeout_s=30)
    assert {r.message_id for r in sink.reports} == {f"w-{i}" for i in range(n)}
    assert {r.provider_message_id for r in sink.reports} == {r.provider_message_id for r in results}
    assert all(r.status == "delivered" for r in sink.reports)
    assert provider.binds == 1
