"""The messages API on the shared hub: rendering, idempotency, bad input, batches, scopes and
ownership (log provider, in-process events)."""

from __future__ import annotations

import asyncio
import uuid

from govhub_common import testing
from tests.sms.support import PARAMS, SIGNATURE, random_mobile, reminder_body


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
