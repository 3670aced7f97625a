"""Delivery hardening (issue 15): a record reaches a subscriber with its granted data items
only, by every path; a revoked subscription gets nothing by any path; only the
subscriber's own feed reads move its position, never past the head; a subscription the
caller cannot see is a 404 for every operation on it."""

from __future__ import annotations

import copy
from typing import Any

import asyncpg
import orjson

from govhub_common.db import asyncpg_dsn
from govhub_common.pagination import encode_cursor
from govhub_common.testing import Hub, wait_for
from tests.exchange.support import (
    BASE,
    ENTERPRISE_SCHEMA,
    agency_headers,
    enterprise,
    make_agency,
    make_topic,
    publish,
    subscribe,
    unique,
)
from tests.exchange.webhook_receiver import WebhookReceiver


async def test_a_schema_that_could_carry_undeclared_fields_is_refused(hub: Hub) -> None:
    owner = await make_agency(hub)
    refused = {
        "patternProperties": {"^x_": {"type": "string"}},
        "unevaluatedProperties": {"type": "string"},
        "dependentSchemas": {"uscc": {"properties": {"x_id": {"type": "string"}}}},
        "if": {"required": ["uscc"]},
        "allOf": [{"properties": {"x_id": {"type": "string"}}}],
        "$ref": "#/$defs/open",
    }
    for keyword, value in [*refused.items(), ("additionalProperties", True)]:
        schema = copy.deepcopy(ENTERPRISE_SCHEMA)
        schema[keyword] = value
        response = await hub.client.post(
            f"{BASE}/topics",
            json={
                "code": unique("t_"),
                "title": "开放",
                "sharing_type": "unconditional",
                "schema": schema,
            },
            headers=agency_headers(hub, owner),
        )
        assert response.status_code == 422, (keyword, response.text)
        assert response.json()["code"] == "invalid_topic_schema"
        assert f"$.schema.{keyword}" in {e["path"] for e in response.json()["errors"]}


async def _open_topic_the_old_way(hub: Hub, db_url: str, owner: str) -> str:
    """A topic whose stored schema lets `x_...` fields in (what the rules allowed before)."""
    topic = await make_topic(hub, owner)
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await conn.execute(
            "UPDATE exchange.topic_versions SET schema = jsonb_set(schema, "
            '\'{patternProperties}\', \'{"^x_": {"type": "string"}}\') WHERE topic_code = $1',
            topic,
        )
    finally:
        await conn.close()
    return topic


async def test_a_field_no_data_item_declares_reaches_no_subscriber(hub: Hub, db_url: str) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await _open_topic_the_old_way(hub, db_url, owner)
    sub = await subscribe(hub, reader, topic, ["uscc", "name"])
    headers = agency_headers(hub, reader)
    granted = {"uscc": enterprise(0)["uscc"], "name": enterprise(0)["name"]}
    async with WebhookReceiver() as receiver:
        hook = await hub.client.put(
            f"{BASE}/subscriptions/{sub['id']}/webhook",
            json={"url": receiver.url},
            headers=headers,
        )
        assert hook.status_code == 200, hook.text
        published = await publish(
            hub,
            owner,
            topic,
            [{"record_id": "o1", "data": enterprise(0, x_id_number="440103192611063699")}],
        )
        assert len(published["accepted"]) == 1  # the stored schema let the field in
        await wait_for(lambda: receiver.requests, timeout=15)
    posted = orjson.loads(receiver.requests[0].body)["data"]["data"]
    assert posted == granted
    feed_url = f"{BASE}/subscriptions/{sub['id']}/records"
    for who in (headers, hub.operator()):
        page = (await hub.client.get(feed_url, headers=who)).json()
        assert [r["data"] for r in page["data"]] == [granted]


async def _delivery(hub: Hub, topic: str, reader: str, record_id: str) -> dict[str, Any] | None:
    rows = (
        await hub.client.get(
            f"{BASE}/deliveries",
            params={"topic": topic, "record_id": record_id},
            headers=agency_headers(hub, reader),
        )
    ).json()["data"]
    return rows[0] if rows else None


async def test_a_revoked_subscription_gets_nothing_by_any_path(hub: Hub) -> None:
    owner, reader, control = [await make_agency(hub) for _ in range(3)]
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc"])
    other = await subscribe(hub, control, topic, ["uscc"])
    reader_headers = agency_headers(hub, reader)
    async with (
        WebhookReceiver(statuses=[500, 500, 500]) as revoked_end,
        WebhookReceiver() as control_end,
    ):
        for subscription, agency, end in (
            (sub, reader, revoked_end),
            (other, control, control_end),
        ):
            set_hook = await hub.client.put(
                f"{BASE}/subscriptions/{subscription['id']}/webhook",
                json={"url": end.url},
                headers=agency_headers(hub, agency),
            )
            assert set_hook.status_code == 200
        await publish(hub, owner, topic, [{"record_id": "v1", "data": enterprise(0)}])

        async def dead() -> Any:
            row = await _delivery(hub, topic, reader, "v1")
            return row if row and row["webhook_status"] == "dead" else None

        await wait_for(dead, timeout=15)  # a dead letter an operator could re-drive
        revoked = await hub.client.post(
            f"{BASE}/subscriptions/{sub['id']}/revoke",
            json={"reason": "协议到期"},
            headers=agency_headers(hub, owner),
        )
        assert revoked.json()["status"] == "revoked"

        # Every path, as the subscriber and as an operator would try it.
        again = await hub.client.put(
            f"{BASE}/subscriptions/{sub['id']}/webhook",
            json={"url": revoked_end.url},
            headers=reader_headers,
        )
        assert (again.status_code, again.json()["code"]) == (409, "not_active")
        resumed = await hub.client.post(
            f"{BASE}/subscriptions/{sub['id']}/webhook/resume", headers=hub.operator()
        )
        assert (resumed.status_code, resumed.json()["code"]) == (409, "not_active")
        letters = await hub.client.get(
            f"{BASE}/webhooks/dead-letters",
            params={"subscription_id": sub["id"]},
            headers=hub.operator(),
        )
        assert letters.json()["data"] == []
        for body in ({"subscription_id": sub["id"]}, {}):
            redriven = await hub.client.post(
                f"{BASE}/webhooks/redrive", json=body, headers=hub.operator()
            )
            assert redriven.status_code == 200
        feed = await hub.client.get(
            f"{BASE}/subscriptions/{sub['id']}/records", headers=reader_headers
        )
        assert (feed.status_code, feed.json()["code"]) == (403, "subscription_not_active")

        # A record published now reaches the approved subscriber; by then the dispatcher
        # has claimed whatever it would have for the revoked one.
        await publish(hub, owner, topic, [{"record_id": "v2", "data": enterprise(1)}])
        await wait_for(
            lambda: any(
                orjson.loads(r.body)["data"]["record_id"] == "v2" for r in control_end.requests
            ),
            timeout=15,
        )
    assert len(revoked_end.requests) == 3  # the attempts made before the revocation
    assert {orjson.loads(r.body)["data"]["record_id"] for r in revoked_end.requests} == {"v1"}


async def _position(
    hub: Hub, subscription_id: int, headers: dict[str, str]
) -> tuple[int, int, int, int]:
    """(acked_seq, delivered_seq, head_seq, lag_records) of the subscription."""
    reply = await hub.client.get(f"{BASE}/subscriptions/{subscription_id}/stats", headers=headers)
    stats = reply.json()
    return stats["acked_seq"], stats["delivered_seq"], stats["head_seq"], stats["lag_records"]


async def test_only_the_subscribers_own_reads_move_its_position(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc"])
    headers = agency_headers(hub, reader)
    await publish(
        hub, owner, topic, [{"record_id": f"c{i}", "data": enterprise(i)} for i in range(3)]
    )
    url = f"{BASE}/subscriptions/{sub['id']}/records"
    first = await hub.client.get(url, params={"limit": 1}, headers=headers)
    second = await hub.client.get(url, params={"cursor": first.json()["next"]}, headers=headers)
    assert second.json()["caught_up"] is True
    assert await _position(hub, sub["id"], headers) == (1, 3, 3, 2)

    # An operator looks: from the start, and from far past the head.
    looked = await hub.client.get(url, headers=hub.operator())
    assert [r["record_id"] for r in looked.json()["data"]] == ["c0", "c1", "c2"]
    beyond = await hub.client.get(
        url, params={"cursor": encode_cursor(1_000_000)}, headers=hub.operator()
    )
    assert beyond.status_code == 200 and beyond.json()["data"] == []
    # The greatest cursor a cursor can hold reads nothing either (compared with the log's
    # start without overflowing bigint).
    last = await hub.client.get(
        url, params={"cursor": encode_cursor(2**63 - 1)}, headers=hub.operator()
    )
    assert (last.status_code, last.json()["data"], last.json()["caught_up"]) == (200, [], True)
    assert await _position(hub, sub["id"], headers) == (1, 3, 3, 2)
    entries = (
        await hub.client.get(
            f"{BASE}/audit",
            params={"topic": topic, "action": "records.read"},
            headers=hub.operator(),
        )
    ).json()["data"]
    assert [
        (e["actor"], e["agency"], e["details"]["first_seq"], e["details"]["last_seq"])
        for e in entries
    ] == [("hub", reader, 1, 3)]

    # The subscriber's own cursor from nowhere acknowledges up to the head, not beyond.
    await hub.client.get(url, params={"cursor": encode_cursor(1_000_000)}, headers=headers)
    assert await _position(hub, sub["id"], headers) == (3, 3, 3, 0)


async def test_decision_and_revoke_of_a_hidden_subscription_are_404(hub: Hub) -> None:
    owner, reader, stranger = [await make_agency(hub) for _ in range(3)]
    topic = await make_topic(hub, owner, sharing_type="conditional")
    sub = await subscribe(hub, reader, topic, ["uscc"])
    base = f"{BASE}/subscriptions/{sub['id']}"
    for path, body in (("decision", {"approve": True}), ("revoke", {"reason": "x"})):
        reply = await hub.client.post(
            f"{base}/{path}", json=body, headers=agency_headers(hub, stranger)
        )
        assert (reply.status_code, reply.json()["code"]) == (404, "not_found"), path
        assert owner not in reply.text
    # The subscriber sees it, so it is told why it may not decide.
    own = await hub.client.post(
        f"{base}/decision", json={"approve": True}, headers=agency_headers(hub, reader)
    )
    assert (own.status_code, own.json()["code"]) == (403, "forbidden")
    missing = await hub.client.post(
        f"{BASE}/subscriptions/999999999/revoke",
        json={"reason": "x"},
        headers=agency_headers(hub, stranger),
    )
    assert missing.status_code == 404
