"""The SMS gateway's lists on the one pagination model (limit, an opaque cursor, `next` null
at the end) and its OpenAPI document as a contract (operation ids, declared answers)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from govhub_common import testing
from govhub_common.testing import every_page
from tests.sms.support import random_mobile

PARAMS = {"name": "广州市海创信息有限公司", "deadline": "2030年7月20日"}


async def test_messages_and_templates_page_to_the_end(hub: testing.Hub) -> None:
    agency = hub.auth("gz-ltax", "sms:send")
    recipient = random_mobile()
    # Not before tomorrow: the sender leaves them be, so what each list shows is fixed.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    sent = []
    for _ in range(3):
        reply = await hub.client.post(
            "/sms/v1/messages",
            json={
                "recipient": recipient,
                "template": "tax_registration_reminder",
                "params": PARAMS,
                "not_before": tomorrow,
            },
            headers={**agency, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert reply.status_code == 201, reply.text
        sent.append(reply.json()["id"])

    listed = await every_page(hub, "/sms/v1/messages", agency, recipient=recipient, limit=1)
    assert [m["id"] for m in listed] == sent
    whole = (
        await hub.client.get("/sms/v1/messages", params={"recipient": recipient}, headers=agency)
    ).json()
    assert whole["next"] is None and whole["data"] == listed
    other_agency = hub.auth("gz-ntax", "sms:send")
    assert (
        await every_page(hub, "/sms/v1/messages", other_agency, recipient=recipient, limit=1) == []
    )
    (waiting,) = {m["status"] for m in listed}
    for status, expected in ((waiting, listed), ("failed", [])):
        by_status = (
            await hub.client.get(
                "/sms/v1/messages",
                params={"recipient": recipient, "status": status},
                headers=agency,
            )
        ).json()
        assert by_status == {"data": expected, "next": None}, status

    templates = (await hub.client.get("/sms/v1/templates", headers=agency)).json()
    assert templates["next"] is None and len(templates["data"]) >= 3
    assert await every_page(hub, "/sms/v1/templates", agency, limit=1) == templates["data"]
    codes = [t["code"] for t in templates["data"]]
    assert codes == sorted(codes)


async def test_lists_refuse_a_cursor_they_did_not_give(hub: testing.Hub) -> None:
    for url in ("/sms/v1/messages", "/sms/v1/templates"):
        for cursor in ("42", "bm90IGEgY3Vyc29y", "WzEsMl0"):
            reply = await hub.client.get(url, params={"cursor": cursor}, headers=hub.operator())
            assert reply.status_code == 400, (url, cursor, reply.text)
            assert reply.json()["code"] == "invalid_cursor"
            assert reply.headers["content-type"] == "application/problem+json"
        too_many = await hub.client.get(url, params={"limit": 5001}, headers=hub.operator())
        assert too_many.status_code == 422 and too_many.json()["code"] == "validation_failed"


async def test_the_document_names_and_declares_every_operation(hub: testing.Hub) -> None:
    document = (await hub.client.get("/sms/openapi.json")).json()
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
    }
    ours = {
        "sendMessage",
        "sendMessages",
        "getMessage",
        "listMessages",
        "resendMessage",
        "abandonMessage",
        "dispatchMessages",
        "listTemplates",
        "createTemplate",
        "getTemplate",
        "updateTemplate",
        "renderTemplate",
        "getOptOut",
        "addOptOut",
        "removeOptOut",
    }
    assert ours <= set(operations)
    for name in ours:
        operation = operations[name]
        assert operation["summary"] and operation["description"], name
        assert len(operation["tags"]) == 1, name
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            shape = body["schema"]
            if "items" in shape:  # the batch: an array of MessageBatchItem
                item = shape["items"]["$ref"].split("/")[-1]
                assert document["components"]["schemas"][item]["examples"], name
                assert shape["examples"], name
            else:
                ref = shape.get("$ref") or shape["anyOf"][0]["$ref"]
                assert document["components"]["schemas"][ref.split("/")[-1]]["examples"], name
        for status, response in operation["responses"].items():
            if status.startswith("2") and status != "204":
                assert response["content"]["application/json"]["schema"]["$ref"], name

    send = operations["sendMessage"]["responses"]
    assert send["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessagePublic"
    }
    assert send["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessagePublic"
    }
    assert "`idempotency_conflict`" in send["409"]["description"]
    for name in ("resendMessage", "abandonMessage", "createTemplate"):
        assert "`conflict`" in operations[name]["responses"]["409"]["description"], name
    for name in ("listMessages", "listTemplates"):
        assert "`invalid_cursor`" in operations[name]["responses"]["400"]["description"]
    batch = operations["sendMessages"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch["type"] == "array" and batch["maxItems"] == 1000
    schemas = document["components"]["schemas"]
    assert batch["items"] == {"$ref": "#/components/schemas/MessageBatchItem"}
    assert "idempotency_key" in schemas["MessageBatchItem"]["required"]
    # What the service accepts is what the schema says (schemathesis holds them to it).
    assert schemas["MessageCreate"]["properties"]["recipient"]["pattern"]
    assert schemas["MessageCreate"]["properties"]["template"]["pattern"]
    assert "`not_found`" in send["404"]["description"]
    assert "`conflict`" in operations["renderTemplate"]["responses"]["409"]["description"]
    assert {"MessageList", "TemplateList"}.isdisjoint(schemas)
    assert set(schemas["MessagePublicPage"]["properties"]) == {"data", "next"}
    example = schemas["MessagePublic"]["examples"][0]
    assert example["recipient"].startswith("+86") and "【" in example["text"]
