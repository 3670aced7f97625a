"""Alerting learns the exchange's catalog from its events: a rule may name a topic created a
moment ago (no records yet), without a client of alerting's own or a restart."""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa

from govhub_common.testing import Hub, running_hub, wait_for
from tests.exchange.support import BASE, ENTERPRISE_SCHEMA, agency_headers, make_agency, make_topic

PREFIXES = ("/registry", "/exchange", "/alerting", "/sms")


async def settled(hub: Hub) -> None:
    """Every outbox published and every consumer group idle (GET /v1/events/status)."""
    await hub.settle()

    async def idle() -> bool:
        for prefix in PREFIXES:
            status = await hub.client.get(f"{prefix}/v1/events/status", headers=hub.operator())
            if not status.json()["idle"]:
                return False
        return True

    await wait_for(idle)


def rule_on(rule_id: str, trigger: str, expected: str, **changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "kind": "absence",
        "title": "新主题上的规则",
        "severity": "low",
        "assigned_agency": "gz-qts",
        "trigger": {"topic": trigger, "key": "uscc", "date": "established_date"},
        "expected": [{"topic": expected, "key": "uscc", "date": "established_date"}],
        "within": "P15D",
    }
    rule.update(changes)
    return rule


async def test_a_rule_on_a_topic_created_a_moment_ago_is_accepted(hub: Hub) -> None:
    owner = await make_agency(hub)
    trigger = await make_topic(hub, owner)
    expected = await make_topic(hub, owner)
    await settled(hub)
    response = await hub.client.post(
        "/alerting/v1/rules",
        json=rule_on(f"new_topic_{trigger}", trigger, expected),
        headers=hub.operator(),
    )
    assert response.status_code == 201, response.text


async def test_an_item_of_a_new_schema_version_may_be_named_at_once(hub: Hub) -> None:
    owner = await make_agency(hub)
    trigger = await make_topic(hub, owner)
    expected = await make_topic(hub, owner)
    rule = rule_on(f"new_item_{trigger}", trigger, expected)
    rule["trigger"]["filter"] = {"licence_kind": "新办"}
    await settled(hub)
    refused = await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())
    assert refused.status_code == 422
    assert [e["path"] for e in refused.json()["errors"]] == ["$.trigger.filter.licence_kind"]

    schema = copy.deepcopy(ENTERPRISE_SCHEMA)
    schema["properties"]["licence_kind"] = {"type": "string", "title": "许可类型"}
    added = await hub.client.post(
        f"{BASE}/topics/{trigger}/versions",
        json={"schema": schema},
        headers=agency_headers(hub, owner),
    )
    assert added.status_code == 201, added.text
    await settled(hub)
    accepted = await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())
    assert accepted.status_code == 201, accepted.text


async def test_an_unknown_topic_is_refused_saying_what_is_missing(hub: Hub) -> None:
    response = await hub.client.post(
        "/alerting/v1/rules",
        json=rule_on("no_such_topic", "no_such_topic_anywhere", "enterprise_registered"),
        headers=hub.operator(),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unknown_reference"
    (error,) = [e for e in body["errors"] if e["path"] == "$.trigger.topic"]
    assert "exchange's catalog" in error["message"]


async def test_an_upgraded_hub_learns_the_topics_made_before_at_its_start(
    fresh_db_url: str,
) -> None:
    async with running_hub(fresh_db_url) as hub:
        owner = await make_agency(hub)
        trigger = await make_topic(hub, owner)
        expected = await make_topic(hub, owner)
        await settled(hub)
        # As a hub from before the catalog events: alerting never heard of these topics.
        async with hub.runtime.db.session() as session:
            await session.execute(
                sa.text("DELETE FROM alerting.known_topics WHERE topic = ANY(:t)"),
                {"t": [trigger, expected]},
            )
        rule = rule_on(f"upgraded_{trigger}", trigger, expected)
        refused = await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())
        assert refused.status_code == 422
    async with running_hub(fresh_db_url) as hub:
        await settled(hub)
        accepted = await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())
        assert accepted.status_code == 201, accepted.text
