"""The messages and templates API on the shared hub (log provider, in-process events)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from govhub_common import testing
from govhub_common.events import CloudEvent
from tests.sms.support import random_mobile

SIGNATURE = "【广州市政务服务数据管理局】"
PARAMS = {"name": "广州市某某科技有限公司", "deadline": "2030年7月20日"}


def reminder_body(recipient: str, **overrides: Any) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "template": "tax_registration_reminder",
        "params": PARAMS,
        **overrides,
    }


async def test_submit_renders_signature_and_params_and_normalises_the_number(
    hub: testing.Hub,
) -> None:
    digits = random_mobile()[3:]
    response = await hub.client.post(
        "/sms/v1/messages",
        json=reminder_body(f"{digits[:3]} {digits[3:7]}-{digits[7:]}"),
        headers={**hub.auth("gz-ltax", "sms:send"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["recipient"] == "+86" + digits
    assert message["text"].startswith(SIGNATURE)
    assert "广州市某某科技有限公司" in message["text"] and "2030年7月20日" in message["text"]
    assert "{" not in message["text"]
    assert message["encoding"] == "ucs2"
    assert message["segments"] == (
        1 if len(message["text"]) <= 70 else -(-len(message["text"]) // 67)
    )
    assert message["agency"] == "gz-ltax"
    assert message["status"] in ("queued", "deferred", "sent", "delivered")


async def test_the_same_idempotency_key_never_makes_a_second_message(hub: testing.Hub) -> None:
    headers = {**hub.auth("gz-ltax", "sms:send"), "Idempotency-Key": uuid.uuid4().hex}
    body = reminder_body(random_mobile())
    first = await hub.client.post("/sms/v1/messages", json=body, headers=headers)
    again = await hub.client.post("/sms/v1/messages", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]

    other = await hub.client.post(
        "/sms/v1/messages", json=reminder_body(random_mobile()), headers=headers
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"

    listed = await hub.client.get(
        "/sms/v1/messages",
        params={"idempotency_key": headers["Idempotency-Key"]},
        headers=headers,
    )
    assert [m["id"] for m in listed.json()["data"]] == [first.json()["id"]]


async def test_concurrent_submits_with_one_key_make_one_message(hub: testing.Hub) -> None:
    headers = {**hub.auth("gz-ltax", "sms:send"), "Idempotency-Key": uuid.uuid4().hex}
    body = reminder_body(random_mobile())
    replies = await asyncio.gather(
        *(hub.client.post("/sms/v1/messages", json=body, headers=headers) for _ in range(5))
    )
    assert sorted(r.status_code for r in replies) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in replies}) == 1


async def test_bad_input_is_a_problem_naming_the_field(hub: testing.Hub) -> None:
    headers = hub.auth("gz-ltax", "sms:send")
    # What the schema refuses is a 422; what depends on state is the catalogue's status: 404
    # for a template that does not exist, 409 for parameters that are not the template's.
    cases = [
        (reminder_body("12345"), "$.recipient", 422),
        (reminder_body(random_mobile(), template="no_such_template"), "$.template", 404),
        (reminder_body(random_mobile(), params={"name": "某公司"}), "$.params.deadline", 409),
        (reminder_body(random_mobile(), params={**PARAMS, "amount": "5"}), "$.params.amount", 409),
        (
            reminder_body(random_mobile(), params={**PARAMS, "name": "{deadline}"}),
            "$.params.name",
            422,
        ),
        (reminder_body(random_mobile(), params={**PARAMS, "name": ["甲"]}), "$.params.name", 422),
        (
            reminder_body(random_mobile(), not_before="9999-12-31T23:59:59+08:00"),
            "$.not_before",
            422,
        ),
    ]
    for body, path, status in cases:
        response = await hub.client.post("/sms/v1/messages", json=body, headers=headers)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        paths = [e["path"] for e in response.json()["errors"]]
        assert any(p == path or p.startswith(path + ".") for p in paths), response.text


async def test_a_batch_keeps_its_valid_items_when_one_is_bad(hub: testing.Hub) -> None:
    headers = hub.auth("gz-ltax", "sms:send")
    good = [
        {**reminder_body(random_mobile()), "idempotency_key": uuid.uuid4().hex} for _ in range(2)
    ]
    bad = {**reminder_body("10086"), "idempotency_key": uuid.uuid4().hex}
    missing = {**reminder_body(random_mobile(), params={}), "idempotency_key": uuid.uuid4().hex}
    response = await hub.client.post(
        "/sms/v1/messages/batch", json=[good[0], bad, good[1], missing], headers=headers
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert (reply["created"], reply["rejected"]) == (2, 2)
    outcomes = [r["outcome"] for r in reply["results"]]
    assert outcomes == ["created", "rejected", "created", "rejected"]
    assert [e["path"] for e in reply["results"][1]["errors"]] == ["$[1].recipient"]
    assert {e["path"] for e in reply["results"][3]["errors"]} == {
        "$[3].params.name",
        "$[3].params.deadline",
    }
    # the same batch again creates nothing new
    again = await hub.client.post("/sms/v1/messages/batch", json=good, headers=headers)
    assert (again.json()["created"], again.json()["existing"]) == (0, 2)


async def test_scopes_and_ownership(hub: testing.Hub) -> None:
    body = reminder_body(random_mobile())
    assert (await hub.client.post("/sms/v1/messages", json=body)).status_code == 401
    wrong = await hub.client.post(
        "/sms/v1/messages", json=body, headers=hub.auth("gz-ltax", "registry:read")
    )
    assert wrong.status_code == 403
    created = await hub.client.post(
        "/sms/v1/messages", json=body, headers=hub.auth("gz-ltax", "sms:send")
    )
    message_id = created.json()["id"]
    other = await hub.client.get(
        f"/sms/v1/messages/{message_id}", headers=hub.auth("gz-ntax", "sms:send")
    )
    assert other.status_code == 404
    listed = await hub.client.get("/sms/v1/messages", headers=hub.auth("gz-ntax", "sms:send"))
    assert message_id not in [m["id"] for m in listed.json()["data"]]
    own = await hub.client.get(
        f"/sms/v1/messages/{message_id}", headers=hub.auth("gz-ltax", "sms:send")
    )
    assert own.status_code == 200
    assert own.json()["history"][0]["status"] == "queued"
    assert (
        await hub.client.get(f"/sms/v1/messages/{message_id}", headers=hub.operator())
    ).status_code == 200
    # dispatch and template management are for operators
    for path, payload in (("/sms/v1/dispatch", {}), ("/sms/v1/templates", {"code": "x_y"})):
        response = await hub.client.post(
            path, json=payload, headers=hub.auth("gz-ltax", "sms:send")
        )
        assert response.status_code == 403, path


async def test_operators_manage_templates_and_segments_are_counted(hub: testing.Hub) -> None:
    code = f"notice_{uuid.uuid4().hex[:6]}"
    bad = await hub.client.post(
        "/sms/v1/templates",
        json={"code": code, "signature": "广州市数据局", "body": "{name}请{x-y}办理"},
        headers=hub.operator(),
    )
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"$.signature", "$.body"}

    body = "您好，{name}：" + "请" * 20
    created = await hub.client.post(
        "/sms/v1/templates",
        json={"code": code, "title": "测试通知", "signature": SIGNATURE, "body": body},
        headers=hub.operator(),
    )
    assert created.status_code == 201, created.text
    assert created.json()["params"] == ["name"]
    assert created.json()["category"] == "notification"

    agency = hub.auth("gz-ltax", "sms:send")

    async def render(name: str) -> dict[str, Any]:
        response = await hub.client.post(
            f"/sms/v1/templates/{code}/render", json={"params": {"name": name}}, headers=agency
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    # signature 14 + "您好，" 3 + name + "：" 1 + 20 = 38 + len(name)
    short = await render("甲" * 32)  # 70 characters: one message
    assert (short["units"], short["segments"]) == (70, 1)
    longer = await render("甲" * 34)  # 72 characters: two parts of at most 67
    assert (longer["units"], longer["segments"]) == (72, 2)

    marketing = await hub.client.post(
        "/sms/v1/templates",
        json={
            "code": f"promo_{uuid.uuid4().hex[:6]}",
            "signature": SIGNATURE,
            "body": "{name}：新政策发布。",
            "category": "marketing",
        },
        headers=hub.operator(),
    )
    assert marketing.json()["opt_out_allowed"] is True
    preview = await hub.client.post(
        f"/sms/v1/templates/{marketing.json()['code']}/render",
        json={"params": {"name": "张三"}},
        headers=agency,
    )
    assert preview.json()["text"] == SIGNATURE + "张三：新政策发布。回TD退订"

    changed = await hub.client.patch(
        f"/sms/v1/templates/{code}", json={"body": "{name}，您好"}, headers=hub.operator()
    )
    assert (changed.json()["version"], changed.json()["body"]) == (2, "{name}，您好")


async def test_reminder_events_become_messages_once(hub: testing.Hub) -> None:
    recipients = [random_mobile(), random_mobile()]
    keys = [f"reminder-{uuid.uuid4().hex}" for _ in recipients]
    reminders = [
        {
            "idempotency_key": key,
            "rule_id": "tax_registration_missing",
            "subject": "91440101MA5XXXXX1X",
            "recipient": recipient,
            "template": "tax_registration_reminder",
            "params": PARAMS,
            "due_at": "2030-07-20T10:00:00+08:00",
        }
        for key, recipient in zip(keys, recipients, strict=True)
    ]
    bad = {**reminders[0], "idempotency_key": f"reminder-{uuid.uuid4().hex}", "recipient": "x"}
    event = CloudEvent(
        source="govhub/alerting",
        type="alerting.reminder.due",
        data={"reminders": [*reminders, bad]},
    )
    await hub.runtime.bus.publish([event])
    await hub.runtime.bus.publish([event])  # redelivered: the inbox drops it
    # the alerting service sends the same reminder again in a later event
    repeat = CloudEvent(
        source="govhub/alerting", type="alerting.reminder.due", data={"reminders": reminders[:1]}
    )
    await hub.runtime.bus.publish([repeat])
    for key, recipient in zip(keys, recipients, strict=True):
        listed = await hub.client.get(
            "/sms/v1/messages", params={"idempotency_key": key}, headers=hub.operator()
        )
        [message] = listed.json()["data"]
        assert message["recipient"] == recipient
        assert message["agency"] == "gz-datacenter"
        assert message["template"] == "tax_registration_reminder"
        # due as of the reminder's time: a simulation dispatching that day sends it
        assert message["status"] == "queued"
        assert message["next_attempt_at"] == "2030-07-20T02:00:00Z"


async def test_background_sender_writes_to_the_log_provider(
    hub: testing.Hub, govhub_home: Path
) -> None:
    """The development default: the log provider writes the text and reports delivery. The
    shared hub runs on the real clock, so during quiet hours the message waits instead."""
    response = await hub.client.post(
        "/sms/v1/messages",
        json=reminder_body(random_mobile()),
        headers=hub.auth("gz-ltax", "sms:send"),
    )
    message_id = response.json()["id"]

    async def settled() -> dict[str, Any] | None:
        current = (
            await hub.client.get(f"/sms/v1/messages/{message_id}", headers=hub.operator())
        ).json()
        return current if current["status"] in ("delivered", "deferred") else None

    message = await testing.wait_for(settled, timeout=15)
    if message["status"] == "deferred":
        assert message["reason"].startswith("quiet_hours")
        return
    assert [h["status"] for h in message["history"]] == ["queued", "sent", "delivered"]
    lines = (govhub_home / "sms" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    written = [json.loads(line) for line in lines if message_id in line]
    assert [w["text"] for w in written] == [message["text"]]
    await hub.settle()
    async with hub.runtime.db.session() as session:
        from sqlalchemy import text

        payloads = (
            await session.execute(
                text(
                    "SELECT payload FROM sms.outbox WHERE type = 'sms.message.status_changed' "
                    "AND payload::text LIKE :id ORDER BY id"
                ),
                {"id": f"%{message_id}%"},
            )
        ).scalars()
        statuses = [
            m["status"] for p in payloads for m in p["data"]["messages"] if m["id"] == message_id
        ]
    assert statuses == ["queued", "sent", "delivered"]
