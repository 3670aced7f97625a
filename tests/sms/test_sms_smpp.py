"""Sending through a real SMPP peer (smpp34's server in its own process), events through
the real RabbitMQ, state in the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from govhub_common import testing
from govhub_common.events import CloudEvent
from govhub_sms.state import gateway_of
from tests.sms.support import SmsHub, at, random_mobile

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(120)]

PARAMS = {"name": "广州市某某科技有限公司", "deadline": "2030年7月20日"}


async def submit(
    sms: SmsHub,
    recipient: str,
    *,
    template: str = "tax_registration_reminder",
    params: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient": recipient,
        "template": template,
        # a name of its own, so the peer's log tells this message's text apart
        "params": {**PARAMS, "name": f"企业{uuid.uuid4().hex[:6]}"} if params is None else params,
    }
    if not_before is not None:
        body["not_before"] = not_before.isoformat()
    response = await sms.post(
        "/v1/messages",
        body,
        {**sms.hub.auth("gz-ltax", "sms:send"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_template(sms: SmsHub, body: str, category: str = "notification") -> str:
    code = f"t_{uuid.uuid4().hex[:8]}"
    response = await sms.post(
        "/v1/templates",
        {
            "code": code,
            "signature": "【广州市政务服务数据管理局】",
            "body": body,
            "category": category,
        },
    )
    assert response.status_code == 201, response.text
    return code


def submits_of(sms: SmsHub, text: str) -> list[dict[str, Any]]:
    """What the peer received for a one-part text (UCS-2 bytes in hex)."""
    payload = text.encode("utf-16-be").hex()
    return [e for e in sms.smsc.submits() if e["short_message"] == payload]


async def test_reminder_event_becomes_a_delivered_message_with_its_receipt(sms_hub: SmsHub) -> None:
    recipient = random_mobile()
    key = f"reminder-{uuid.uuid4().hex}"
    event = CloudEvent(
        source="govhub/alerting",
        type="alerting.reminder.due",
        data={
            "reminders": [
                {
                    "idempotency_key": key,
                    "rule_id": "tax_registration_missing",
                    "subject": "91440101MA5XXXXX1X",
                    "recipient": recipient,
                    "template": "tax_registration_reminder",
                    "params": PARAMS,
                    "due_at": "2030-06-03T10:00:00+08:00",
                }
            ]
        },
    )
    await sms_hub.hub.runtime.bus.publish([event])  # through RabbitMQ

    async def found() -> str | None:
        listed = await sms_hub.get("/v1/messages", idempotency_key=key)
        data = listed.json()["data"]
        return data[0]["id"] if data else None

    message_id = await testing.wait_for(found, timeout=15)
    message = await sms_hub.wait_status(message_id, "delivered")
    assert [h["status"] for h in message["history"]] == ["queued", "sent", "delivered"]
    assert message["provider"] == "primary"
    [submitted] = submits_of(sms_hub, message["text"])
    # the receipt said id:<decimal>; the submit_sm_resp gave the same id in hex
    assert message["provider_message_id"] == submitted["message_id"]
    receipts = sms_hub.smsc.matching(
        lambda e: e["event"] == "receipt_sent" and int(e["id"]) == int(submitted["message_id"], 16)
    )
    assert len(receipts) == 1
    await sms_hub.hub.settle()
    metrics = (await sms_hub.hub.client.get("/sms/metrics")).text
    assert (
        'govhub_sms_messages_delivered_total{provider="primary",template="tax_registration_reminder"}'
        in metrics
    )
    assert 'govhub_sms_delivery_report_seconds_count{provider="primary"}' in metrics


async def test_a_72_character_chinese_text_goes_out_as_two_parts(sms_hub: SmsHub) -> None:
    code = await new_template(sms_hub, "{name}：" + "请及时办理税务登记" * 6)  # 14 + name + 1 + 54
    message = await submit(sms_hub, random_mobile(), template=code, params={"name": "某公司"})
    assert len(message["text"]) == 72
    assert (message["encoding"], message["segments"]) == ("ucs2", 2)
    message = await sms_hub.wait_status(message["id"], "delivered")
    parts = [
        p
        for p in sms_hub.smsc.submits()
        if p["esm_class"] & 0x40
        and bytes.fromhex(p["short_message"])[6:].decode("utf-16-be") in message["text"]
    ]
    assert len(parts) == 2
    payloads = [bytes.fromhex(p["short_message"]) for p in parts]
    assert [p[4:6] for p in payloads] == [bytes([2, 1]), bytes([2, 2])]
    assert "".join(p[6:].decode("utf-16-be") for p in payloads) == message["text"]
    assert message["provider_message_id"] == parts[0]["message_id"]


async def test_quiet_hours_defer_and_the_morning_sends(sms_hub: SmsHub) -> None:
    evening = at(1, 22, 30)
    message = await submit(sms_hub, random_mobile(), not_before=evening)
    round_ = await sms_hub.dispatch(evening)
    assert round_["deferred"] >= 1
    deferred = await sms_hub.message(message["id"])
    assert deferred["status"] == "deferred"
    assert deferred["reason"].startswith("quiet_hours")
    assert datetime.fromisoformat(deferred["next_attempt_at"]) == at(2, 8, 0)
    assert submits_of(sms_hub, message["text"]) == []

    await sms_hub.dispatch(at(2, 7, 59))
    assert (await sms_hub.message(message["id"]))["status"] == "deferred"
    await sms_hub.dispatch(at(2, 8, 0))
    done = await sms_hub.wait_status(message["id"], "delivered")
    assert [h["status"] for h in done["history"]] == ["queued", "deferred", "sent", "delivered"]
    assert len(submits_of(sms_hub, done["text"])) == 1


async def test_caps_and_opt_outs_refuse_with_a_reason(sms_hub: SmsHub) -> None:
    recipient = random_mobile()
    when = at(3)
    codes = [await new_template(sms_hub, f"{{name}}：第{i}号通知。") for i in range(6)]
    first = [
        await submit(sms_hub, recipient, template=c, params={"name": "张三"}, not_before=when)
        for c in codes
    ]
    again = await submit(
        sms_hub, recipient, template=codes[0], params={"name": "李四"}, not_before=when
    )
    await sms_hub.dispatch(when)
    statuses = [(await sms_hub.message(m["id"])) for m in [*first, again]]
    sent = [m for m in statuses if m["status"] in ("sent", "delivered")]
    refused = [m for m in statuses if m["status"] == "failed"]
    assert (len(sent), len(refused)) == (5, 2)
    reasons = sorted(m["reason"] for m in refused)
    assert reasons[0].startswith("cap_exceeded: 5 messages already sent")
    assert reasons[1].startswith(f"cap_exceeded: template {codes[0]}") or reasons[0].startswith(
        f"cap_exceeded: template {codes[0]}"
    )
    # the next day the caps start again
    later = await submit(
        sms_hub, recipient, template=codes[0], params={"name": "王五"}, not_before=at(4)
    )
    await sms_hub.dispatch(at(4))
    await sms_hub.wait_status(later["id"], "delivered")

    # an inbound "TD" reply (deliver_sm) puts the number on the opt-out list
    opted = random_mobile()
    await sms_hub.smsc.command(cmd="mo", source=opted[1:], text="TD")

    async def listed() -> bool:
        return bool((await sms_hub.get(f"/v1/opt-outs/{opted}")).status_code == 200)

    await testing.wait_for(listed, timeout=10)
    promo = await new_template(sms_hub, "{name}：惠企政策发布。", category="marketing")
    marketing = await submit(
        sms_hub, opted, template=promo, params={"name": "赵六"}, not_before=at(5)
    )
    notice = await submit(sms_hub, opted, not_before=at(5))
    await sms_hub.dispatch(at(5))
    refused_marketing = await sms_hub.message(marketing["id"])
    assert refused_marketing["status"] == "failed"
    assert refused_marketing["reason"].startswith("opted_out")
    assert submits_of(sms_hub, marketing["text"]) == []
    # a notification template is not stopped by an opt-out unless configured so
    await sms_hub.wait_status(notice["id"], "delivered")
    stoppable = await sms_hub.post(
        "/v1/templates",
        {
            "code": f"t_{uuid.uuid4().hex[:8]}",
            "signature": "【广州市政务服务数据管理局】",
            "body": "{name}：办事指南已更新。",
            "opt_out_allowed": True,
        },
    )
    configured = await submit(
        sms_hub, opted, template=stoppable.json()["code"], params={"name": "赵六"}, not_before=at(5)
    )
    await sms_hub.dispatch(at(5))
    assert (await sms_hub.message(configured["id"]))["reason"].startswith("opted_out")


async def test_throttling_slows_the_sender_and_retries_later(sms_hub: SmsHub) -> None:
    when = at(6)
    limiter = gateway_of(sms_hub.hub.runtime.context("sms-gateway")).slots[0].limiter
    rate_before = limiter.current_rate
    await sms_hub.smsc.command(cmd="reject", status=0x58, count=3)
    messages = [await submit(sms_hub, random_mobile(), not_before=when) for _ in range(3)]
    await sms_hub.dispatch(when)
    for message in messages:
        current = await sms_hub.message(message["id"])
        assert current["status"] == "deferred"
        assert current["reason"].startswith("retry: throttled")
        assert datetime.fromisoformat(current["next_attempt_at"]) == when + timedelta(seconds=1)
    assert limiter.current_rate < rate_before
    await sms_hub.dispatch(when + timedelta(seconds=1))
    for message in messages:
        done = await sms_hub.wait_status(message["id"], "delivered")
        assert [h["status"] for h in done["history"]] == ["queued", "deferred", "sent", "delivered"]


async def test_failover_to_the_second_provider(sms_hub: SmsHub) -> None:
    # the primary rejects the submit outright
    await sms_hub.smsc.command(cmd="reject", status=0x0B)
    rejected = await submit(sms_hub, random_mobile(), not_before=at(7))
    await sms_hub.dispatch(at(7))
    done = await sms_hub.wait_status(rejected["id"], "delivered")
    assert done["provider"] == "fallback"
    assert [h["status"] for h in done["history"]] == ["queued", "deferred", "sent", "delivered"]
    assert done["history"][1]["reason"].startswith("failover to fallback: rejected at primary")
    assert done["text"] in sms_hub.fallback_outbox.read_text(encoding="utf-8")

    # the primary takes it, but its delivery report fails
    await sms_hub.smsc.command(cmd="stat", stat="UNDELIV", err="012")
    undelivered = await submit(sms_hub, random_mobile(), not_before=at(8))
    await sms_hub.dispatch(at(8))
    # the report arrives on its own time; whichever round comes next resends
    await sms_hub.wait_status(undelivered["id"], "deferred", "delivered")
    await sms_hub.dispatch(at(8))
    done = await sms_hub.wait_status(undelivered["id"], "delivered")
    assert done["provider"] == "fallback"
    assert [h["status"] for h in done["history"]] == [
        "queued",
        "sent",
        "deferred",
        "sent",
        "delivered",
    ]
    assert "UNDELIV" in done["history"][2]["reason"] or "012" in done["history"][2]["reason"]


async def test_the_peer_dropping_mid_batch_loses_nothing_and_sends_nothing_twice(
    sms_hub: SmsHub, caplog: pytest.LogCaptureFixture
) -> None:
    when = at(9)
    held = 50  # the whole window: these are in flight when the peer goes away
    count = 80
    await sms_hub.smsc.command(cmd="hold", count=held)
    items = [
        {
            "recipient": random_mobile(),
            "template": "tax_registration_reminder",
            "params": {"name": f"企业{i:03d}", "deadline": "2030年7月20日"},
            "not_before": when.isoformat(),
            "idempotency_key": uuid.uuid4().hex,
        }
        for i in range(count)
    ]
    reply = await sms_hub.post("/v1/messages/batch", items, sms_hub.hub.auth("gz-ltax", "sms:send"))
    ids = [r["id"] for r in reply.json()["results"]]
    assert len(ids) == count
    round_ = asyncio.create_task(sms_hub.dispatch(when))
    await sms_hub.smsc.wait_for(
        lambda e: e["event"] == "submit" and e["answer"] == "held", count=held, timeout_s=20
    )
    # The peer drops every connection, then comes back. It numbers its ids afresh from
    # elsewhere: the provider's receipt tracker can pair a receipt that overtakes its
    # submit_sm_resp with an older message of the same id (reported to its author).
    sms_hub.smsc.args = ("--first-id", str(10_000_000 + len(sms_hub.smsc.events)))
    await sms_hub.smsc.restart()
    await round_
    await sms_hub.dispatch(when + timedelta(minutes=1))  # anything deferred goes now

    async def all_final() -> list[dict[str, Any]] | None:
        messages = [await sms_hub.message(i) for i in ids]
        final = all(m["status"] in ("delivered", "ambiguous") for m in messages)
        return messages if final else None

    messages = await testing.wait_for(all_final, timeout=30, interval=0.3)
    failed = [m for m in messages if m["status"] == "ambiguous"]
    delivered = [m for m in messages if m["status"] == "delivered"]
    # the held ones may have reached the carrier: ambiguous with the reason, never resent
    # blindly (and no receipt comes: the restarted peer forgot them)
    assert len(failed) == held
    assert all(m["reason"].startswith("ambiguous_timeout") for m in failed)
    listed = await sms_hub.get("/v1/messages", status="ambiguous", limit=500)
    assert {m["id"] for m in failed} <= {m["id"] for m in listed.json()["data"]}
    assert len(delivered) == count - held
    for m in messages:
        assert len(submits_of(sms_hub, m["text"])) == 1, m["id"]
    # the failures were logged, the numbers masked
    assert "ambiguous_timeout" in caplog.text
    assert not [m for m in messages if m["recipient"][1:] in caplog.text]
    # an operator may decide to resend one
    resent = await sms_hub.post(f"/v1/messages/{failed[0]['id']}/resend", {})
    assert resent.status_code == 200, resent.text
    await sms_hub.wait_status(failed[0]["id"], "delivered")  # the background sender's
    assert len(submits_of(sms_hub, failed[0]["text"])) == 2


async def test_a_message_not_sent_in_time_expires_with_its_reason(sms_hub: SmsHub) -> None:
    evening = at(10, 21, 30)
    message = await submit(sms_hub, random_mobile(), not_before=evening)
    await sms_hub.dispatch(evening)  # quiet hours: deferred to 08:00
    assert (await sms_hub.message(message["id"]))["status"] == "deferred"
    await sms_hub.dispatch(evening + timedelta(hours=73))  # past the 72-hour validity
    expired = await sms_hub.message(message["id"])
    assert (expired["status"], expired["reason"]) == ("expired", "not sent before it expired")
    assert [h["status"] for h in expired["history"]] == ["queued", "deferred", "expired"]
    assert submits_of(sms_hub, expired["text"]) == []
    metrics = (await sms_hub.hub.client.get("/sms/metrics")).text
    assert "govhub_sms_queue_depth " in metrics
