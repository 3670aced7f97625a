"""A key given twice in a JSON request body is refused as a 422 naming its path, on every
operation (issue 15, point 13), where it used to take the last value silently. Through the
hub with the real RabbitMQ; publish's per-record judgement is in
tests/exchange/publishing/test_publish_input.py."""

from __future__ import annotations

from govhub_common.testing import Hub


async def test_a_duplicate_top_level_key_is_refused(rabbit_hub: Hub) -> None:
    reply = await rabbit_hub.client.post(
        "/exchange/v1/agencies",
        content='{"code": "gz-dup-a", "name": "重复键局", "code": "gz-dup-b"}',
        headers={**rabbit_hub.operator(), "Content-Type": "application/json"},
    )
    assert reply.status_code == 422, reply.text
    problem = reply.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"] == [
        {"path": "$.code", "message": "duplicate key", "type": "duplicate_key"}
    ]
    # Nothing was created under either code.
    for code in ("gz-dup-a", "gz-dup-b"):
        missing = await rabbit_hub.client.get(
            f"/exchange/v1/agencies/{code}", headers=rabbit_hub.operator()
        )
        assert missing.status_code == 404


async def test_a_duplicate_nested_key_is_refused_with_its_path(rabbit_hub: Hub) -> None:
    body = (
        '{"code": "t_dup", "title": "重复", "sharing_type": "unconditional", "schema": '
        '{"type": "object", "additionalProperties": false, "properties": '
        '{"name": {"type": "string"}, "name": {"type": "integer"}}}}'
    )
    reply = await rabbit_hub.client.post(
        "/exchange/v1/topics",
        content=body,
        headers={
            **rabbit_hub.auth("gz-dup", "exchange:catalog"),
            "Content-Type": "application/json",
        },
    )
    assert reply.status_code == 422, reply.text
    assert [e["path"] for e in reply.json()["errors"]] == ["$.schema.properties.name"]


async def test_the_same_body_without_duplicates_is_taken(rabbit_hub: Hub) -> None:
    reply = await rabbit_hub.client.post(
        "/exchange/v1/agencies",
        content='{"code": "gz-dup-c", "name": "重复键局"}',
        headers={**rabbit_hub.operator(), "Content-Type": "application/json"},
    )
    assert reply.status_code == 201, reply.text
