"""Alerting's API as a contract: every operation typed, named and documented, every list
paged the one way, the rule body sent as JSON or YAML, the errors declared as answered."""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml

from govhub_common.testing import Hub
from tests.alerting.support import days, evaluate, new_id, record_event, uscc

OPERATIONS = {
    ("get", "/v1/rules/schema"): "getRuleSchema",
    ("get", "/v1/rules"): "listRules",
    ("post", "/v1/rules"): "createRule",
    ("post", "/v1/rules/dry-run"): "dryRunRule",
    ("get", "/v1/rules/{rule_id}"): "getRule",
    ("put", "/v1/rules/{rule_id}"): "updateRule",
    ("get", "/v1/rules/{rule_id}/versions"): "listRuleVersions",
    ("post", "/v1/rules/{rule_id}/disable"): "disableRule",
    ("post", "/v1/rules/{rule_id}/enable"): "enableRule",
    ("post", "/v1/rules/{rule_id}/backfill"): "backfillRule",
    ("post", "/v1/evaluate"): "evaluateTimers",
    ("get", "/v1/warnings"): "listWarnings",
    ("get", "/v1/warnings/{warning_id}"): "getWarning",
    ("post", "/v1/warnings/{warning_id}/transitions"): "transitionWarning",
    ("post", "/v1/silences"): "createSilence",
    ("get", "/v1/silences"): "listSilences",
    ("get", "/v1/stats"): "listRuleStats",
}
# Each list's item model.
LISTS = {
    "/v1/rules": "RulePublic",
    "/v1/rules/{rule_id}/versions": "RuleVersion",
    "/v1/warnings": "WarningPublic",
    "/v1/silences": "SilencePublic",
    "/v1/stats": "RuleFigures",
}
# Beyond 401/403/404/422/503, which every operation declares as they apply.
DECLARED = {
    "createRule": {"400", "409", "415", "422"},
    "dryRunRule": {"400", "415", "422"},
    "updateRule": {"400", "415", "422"},
    "backfillRule": {"409"},
    "transitionWarning": {"409"},
    "createSilence": {"404"},
}


def absence_rule(rule_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "kind": "absence",
        "title": "开业未办组织机构代码",
        "severity": "low",
        "assigned_agency": "gz-qts",
        "trigger": {"topic": "enterprise_registered", "key": "uscc", "date": "established_date"},
        "expected": [{"topic": "quality_code_assigned", "key": "uscc", "date": "assigned_date"}],
        "within": "P15D",
        **changes,
    }


async def openapi(hub: Hub) -> dict[str, Any]:
    response = await hub.client.get("/alerting/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


async def test_every_operation_is_named_typed_and_documented(hub: Hub) -> None:
    document = await openapi(hub)
    found = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if (method, path) in OPERATIONS
    }
    assert set(found) == set(OPERATIONS)
    schemas = document["components"]["schemas"]
    for key, operation in found.items():
        assert operation["operationId"] == OPERATIONS[key]
        assert operation["summary"] and operation["description"], key
        assert len(operation["tags"]) == 1
        (success,) = [s for s in operation["responses"] if s.startswith("2")]
        schema = operation["responses"][success]["content"]["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[1]
        assert name in schemas and "Input" not in name and "Output" not in name
        path = key[1]
        if key[0] == "get" and path in LISTS:
            # The one page shape: the items of this list and `next`.
            page = schemas[name]
            assert set(page["properties"]) == {"data", "next"}
            assert page["properties"]["data"]["items"]["$ref"].endswith("/" + LISTS[path])
            params = {p["name"] for p in operation["parameters"]}
            assert {"limit", "cursor"} <= params and "after" not in params
            assert "400" in operation["responses"]  # invalid_cursor
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                content = response["content"]["application/problem+json"]
                assert content["schema"]["$ref"] == "#/components/schemas/Problem"
        assert DECLARED.get(OPERATIONS[key], set()) <= set(operation["responses"])
        body = operation.get("requestBody")
        if body is not None:
            for media in body["content"].values():
                example = media.get("example") or schemas[
                    media["schema"]["$ref"].rsplit("/", 1)[1]
                ].get("examples")
                assert example, key
    rule_body = document["paths"]["/v1/rules"]["post"]["requestBody"]["content"]
    assert set(rule_body) == {"application/json", "application/yaml"}
    assert rule_body["application/yaml"]["schema"]["type"] == "string"
    assert (
        yaml.safe_load(rule_body["application/yaml"]["example"])
        == (rule_body["application/json"]["example"])
    )
    kinds = rule_body["application/json"]["schema"]["discriminator"]["mapping"]
    assert all(ref.rsplit("/", 1)[1] in schemas for ref in kinds.values())
    conflict = document["paths"]["/v1/warnings/{warning_id}/transitions"]["post"]["responses"]
    assert "invalid_transition" in conflict["409"]["description"]


async def walk(hub: Hub, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    """Every item of a list, with the generic loop: follow `next` as `cursor` until null."""
    items: list[Any] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await hub.client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) <= params.get("limit", 100)
        items.extend(body["data"])
        cursor = body["next"]
        if cursor is None:
            return items


async def test_lists_page_with_a_cursor_until_next_is_null(hub: Hub, day0: date) -> None:
    rule_id = new_id()
    created = await hub.client.post(
        "/alerting/v1/rules", json=absence_rule(rule_id), headers=hub.operator()
    )
    assert created.status_code == 201, created.text
    try:
        for within in ("P16D", "P17D"):
            changed = await hub.client.put(
                f"/alerting/v1/rules/{rule_id}",
                json=absence_rule(rule_id, within=within),
                headers=hub.operator(),
            )
            assert changed.status_code == 200, changed.text
        subjects = sorted(uscc() for _ in range(3))
        await hub.runtime.bus.publish(
            [
                record_event(
                    "enterprise_registered",
                    "gz-amr",
                    *(
                        {"uscc": s, "name": "丁", "established_date": day0.isoformat()}
                        for s in subjects
                    ),
                )
            ]
        )
        await evaluate(hub, day0 + days(40))
        qts = hub.auth("gz-qts", "alerting:read", "alerting:work")
        warnings = await walk(hub, "/alerting/v1/warnings", qts, rule=rule_id, limit=1)
        assert sorted(w["subject"] for w in warnings) == subjects
        assert [w["id"] for w in warnings] == sorted(w["id"] for w in warnings)
        assert all(w["evidence"][0]["publisher"] == "gz-amr" for w in warnings)

        versions = await walk(hub, f"/alerting/v1/rules/{rule_id}/versions", qts, limit=2)
        assert [v["version"] for v in versions] == [1, 2, 3]
        assert versions[2]["definition"]["within"] == "P17D"

        for subject in subjects:
            silenced = await hub.client.post(
                "/alerting/v1/silences",
                json={
                    "rule_id": rule_id,
                    "subject": subject,
                    "until": "2999-12-31",
                    "reason": "延期",
                },
                headers=qts,
            )
            assert silenced.status_code == 201, silenced.text
        silences = await walk(hub, "/alerting/v1/silences", qts, rule=rule_id, limit=2)
        assert sorted(s["subject"] for s in silences) == subjects

        rules = await walk(hub, "/alerting/v1/rules", qts, limit=3)
        assert [r["id"] for r in rules] == sorted(r["id"] for r in rules)
        (mine,) = [r for r in rules if r["id"] == rule_id]
        # The definition as written: parts not given stay out, not null.
        assert "description" not in mine["definition"] and mine["version"] == 3

        figures = await walk(hub, "/alerting/v1/stats", hub.operator(), limit=1)
        assert rule_id in {f["rule_id"] for f in figures}
        assert len(figures) == len(rules)
    finally:
        # It must not judge the licences of the other tests.
        disabled = await hub.client.post(
            f"/alerting/v1/rules/{rule_id}/disable", headers=hub.operator()
        )
        assert disabled.json()["enabled"] is False


async def test_a_cursor_not_given_by_the_list_is_refused(hub: Hub) -> None:
    reader = hub.auth("gz-qts", "alerting:read")
    by_id = ("/alerting/v1/rules", "/alerting/v1/stats")
    by_number = (
        "/alerting/v1/warnings",
        "/alerting/v1/silences",
        "/alerting/v1/rules/tax_registration_missing/versions",
    )
    # Junk, a cursor of the other kind of list (["x"], [1]), and one of two parts.
    for path, cursors in [(p, ("junk!", "WzFd", "WyJ4IiwxXQ")) for p in by_id] + [
        (p, ("junk!", "WyJ4Il0", "WzEsMl0")) for p in by_number
    ]:
        for cursor in cursors:
            response = await hub.client.get(path, params={"cursor": cursor}, headers=reader)
            assert response.status_code == 400, (path, cursor, response.text)
            assert response.json()["code"] == "invalid_cursor"
        too_many = await hub.client.get(path, params={"limit": 5001}, headers=reader)
        assert too_many.status_code == 422
        assert too_many.json()["code"] == "validation_failed"


async def test_rule_bodies_are_json_or_yaml_and_nothing_else(hub: Hub) -> None:
    # Disabled: it must not judge the licences of the other tests.
    rule = absence_rule(new_id(), enabled=False)
    text = yaml.safe_dump(rule, allow_unicode=True)
    other = await hub.client.post(
        "/alerting/v1/rules",
        content=text,
        headers={**hub.operator(), "Content-Type": "text/plain"},
    )
    assert other.status_code == 415
    assert other.json()["code"] == "unsupported_media_type"
    broken = await hub.client.post(
        "/alerting/v1/rules",
        content="id: [unclosed",
        headers={**hub.operator(), "Content-Type": "application/yaml"},
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "malformed_body"
    not_json = await hub.client.post(
        "/alerting/v1/rules/dry-run",
        content="{",
        headers={**hub.operator(), "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert not_json.json()["code"] == "malformed_body"
    created = await hub.client.post(
        "/alerting/v1/rules",
        content=text,
        headers={**hub.operator(), "Content-Type": "application/yaml; charset=utf-8"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["definition"] == rule | {
        "reminders": [],
        "auto_resolve": True,
    }
    schema = await hub.client.get("/alerting/v1/rules/schema", headers=hub.operator())
    assert set(schema.json()) >= {"oneOf", "discriminator", "$defs"}


async def test_input_the_database_cannot_hold_is_a_422_not_a_fault(hub: Hub) -> None:
    op = hub.operator()
    rule = absence_rule(new_id(), enabled=False)
    for method, path, kwargs in [
        ("GET", "/alerting/v1/warnings", {"params": {"subject": "a\x00b"}}),
        ("GET", "/alerting/v1/rules/a%00b", {}),
        ("GET", "/alerting/v1/warnings/99999999999999999999", {}),
        ("POST", "/alerting/v1/evaluate", {"json": {"as_of": "0001-01-01T00:00:00"}}),
        (
            "POST",
            "/alerting/v1/silences",
            {"json": {"rule_id": "x", "subject": "a\x00", "until": "2026-06-30", "reason": "r"}},
        ),
        ("POST", "/alerting/v1/rules", {"json": rule | {"title": "甲\x00"}}),
        ("POST", "/alerting/v1/rules", {"json": rule | {"within": "P99999999999W"}}),
    ]:
        response = await hub.client.request(method, path, headers=op, **kwargs)
        assert response.status_code == 422, (path, kwargs, response.text)
        assert response.json()["code"] in ("validation_failed", "invalid_rule")
    aliased = await hub.client.post(
        "/alerting/v1/rules",
        content="a: &a [*a, *a]",
        headers={**op, "Content-Type": "application/yaml"},
    )
    assert aliased.status_code == 400
