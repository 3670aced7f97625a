"""Rule management through the API: schema, refusals with paths, versions, disabling,
dry run and backfill."""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml

from govhub_common.testing import Hub
from tests.alerting.support import at, days, evaluate, new_id, record_event, uscc, warnings_of


def absence_rule(rule_id: str, **changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "kind": "absence",
        "title": "开业未办组织机构代码",
        "severity": "low",
        "assigned_agency": "gz-qts",
        "trigger": {"topic": "enterprise_registered", "key": "uscc", "date": "established_date"},
        "expected": [{"topic": "quality_code_assigned", "key": "uscc", "date": "assigned_date"}],
        "within": "P15D",
    }
    rule.update(changes)
    return rule


async def test_schema_is_published_and_needs_a_token(hub: Hub) -> None:
    assert (await hub.client.get("/alerting/v1/rules/schema")).status_code == 401
    response = await hub.client.get(
        "/alerting/v1/rules/schema", headers=hub.auth("gz-ltax", "alerting:read")
    )
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["discriminator"]["mapping"]) == {"absence", "contradiction", "duplicate"}
    assert "AbsenceRule" in schema["$defs"]
    openapi = (await hub.client.get("/alerting/openapi.json")).json()
    assert "/v1/warnings/{warning_id}/transitions" in openapi["paths"]


async def test_invalid_rule_is_refused_with_the_path_of_each_fault(hub: Hub) -> None:
    rule = absence_rule(new_id(), within="30 days", severity="urgent")
    rule["trigger"]["key"] = None
    response = await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    paths = {e["path"] for e in response.json()["errors"]}
    assert paths == {"$.within", "$.severity", "$.trigger.key"}

    unknown = absence_rule(new_id())
    unknown["expected"].append({"topic": "no_such_topic", "key": "uscc", "date": "d"})
    unknown["trigger"]["date"] = "opened_on"
    response = await hub.client.post("/alerting/v1/rules", json=unknown, headers=hub.operator())
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unknown_reference"
    assert {e["path"] for e in body["errors"]} == {"$.trigger.date", "$.expected[1].topic"}

    # Only operators manage rules.
    response = await hub.client.post(
        "/alerting/v1/rules",
        json=absence_rule(new_id()),
        headers=hub.auth("gz-qts", "alerting:read", "alerting:work"),
    )
    assert response.status_code == 403


async def test_create_from_yaml_update_as_new_version_and_disable(hub: Hub) -> None:
    rule_id = new_id()
    response = await hub.client.post(
        "/alerting/v1/rules",
        content=yaml.safe_dump(absence_rule(rule_id), allow_unicode=True),
        headers={**hub.operator(), "Content-Type": "application/yaml"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1
    again = await hub.client.post(
        "/alerting/v1/rules", json=absence_rule(rule_id), headers=hub.operator()
    )
    assert again.status_code == 409

    changed = absence_rule(rule_id, within="P20D")
    response = await hub.client.put(
        f"/alerting/v1/rules/{rule_id}", json=changed, headers=hub.operator()
    )
    assert response.status_code == 200
    assert (response.json()["version"], response.json()["definition"]["within"]) == (2, "P20D")
    response = await hub.client.post(
        f"/alerting/v1/rules/{rule_id}/disable", headers=hub.operator()
    )
    assert response.json()["enabled"] is False
    versions = await hub.client.get(
        f"/alerting/v1/rules/{rule_id}/versions", headers=hub.operator()
    )
    assert [v["version"] for v in versions.json()["data"]] == [1, 2]


async def test_disabled_rule_sets_no_timers(hub: Hub, day0: date) -> None:
    rule_id = new_id()
    await hub.client.post(
        "/alerting/v1/rules", json=absence_rule(rule_id, enabled=False), headers=hub.operator()
    )
    code = uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered",
                "gz-amr",
                {"uscc": code, "name": "甲", "established_date": day0.isoformat()},
            )
        ]
    )
    await evaluate(hub, day0 + days(60))
    assert await warnings_of(hub, "gz-qts", rule=rule_id) == []


async def test_new_rule_dry_run_lists_then_backfill_raises(hub: Hub, day0: date) -> None:
    registered, missing = uscc(), uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered",
                "gz-amr",
                *(
                    {"uscc": c, "name": "乙", "established_date": day0.isoformat()}
                    for c in (registered, missing)
                ),
            ),
            record_event(
                "local_tax_registered",
                "gz-ltax",
                {
                    "uscc": registered,
                    "tax_no": "T1",
                    "registered_date": (day0 + days(9)).isoformat(),
                },
            ),
        ]
    )
    # A stricter variant of the tax rule, over facts the default rules already keep.
    rule_id = new_id()
    rule = absence_rule(
        rule_id,
        assigned_agency="gz-ltax",
        trigger={**absence_rule("x")["trigger"], "filter": {"name": "乙"}},
        expected=[{"topic": "local_tax_registered", "key": "uscc", "date": "registered_date"}],
        within="P10D",
    )
    as_of = at(day0 + days(11))
    # Evaluated before it exists: what it would raise over the stored facts.
    response = await hub.client.post(
        "/alerting/v1/rules/dry-run", params={"as_of": as_of}, json=rule, headers=hub.operator()
    )
    assert response.status_code == 200, response.text
    listed = {w["subject"] for w in response.json()["warnings"]}
    assert missing in listed and registered not in listed

    await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())
    dry = await hub.client.post(
        f"/alerting/v1/rules/{rule_id}/backfill",
        json={"dry_run": True, "as_of": as_of},
        headers=hub.operator(),
    )
    assert missing in {w["subject"] for w in dry.json()["warnings"]}
    assert await warnings_of(hub, "gz-ltax", rule=rule_id) == []

    applied = await hub.client.post(
        f"/alerting/v1/rules/{rule_id}/backfill",
        json={"dry_run": False, "as_of": as_of},
        headers=hub.operator(),
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["raised"] == dry.json()["would_raise"] >= 1
    raised = {w["subject"] for w in await warnings_of(hub, "gz-ltax", rule=rule_id)}
    assert missing in raised and registered not in raised
    # Applying again raises nothing new.
    again = await hub.client.post(
        f"/alerting/v1/rules/{rule_id}/backfill",
        json={"dry_run": False, "as_of": as_of},
        headers=hub.operator(),
    )
    assert (again.json()["would_raise"], again.json()["raised"]) == (0, 0)
