"""Topics, versioned schemas with data items, search and pagination."""

from __future__ import annotations

import copy
from typing import Any

from govhub_common.testing import Hub, running_hub
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


async def test_topic_lists_its_data_items_with_sensitivity_and_personal_flag(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    detail = (
        await hub.client.get(f"{BASE}/topics/{topic}", headers=agency_headers(hub, owner))
    ).json()
    assert detail["owner"] == owner and detail["current_version"] == 1
    assert detail["schema"]["additionalProperties"] is False
    items = {i["name"]: i for i in detail["data_items"]}
    assert len(items) == 10
    assert items["legal_rep_id"]["personal"] is True
    assert items["legal_rep_id"]["sensitivity"] == "sensitive"
    assert items["uscc"]["required"] is True and items["industry"]["required"] is False


async def test_a_bad_schema_is_refused_naming_each_fault(hub: Hub) -> None:
    owner = await make_agency(hub)
    schema = copy.deepcopy(ENTERPRISE_SCHEMA)
    del schema["properties"]["name"]["title"]
    schema["properties"]["uscc"]["x-sensitivity"] = "extreme"
    response = await hub.client.post(
        f"{BASE}/topics",
        json={
            "code": unique("t_"),
            "title": "坏",
            "sharing_type": "unconditional",
            "schema": schema,
        },
        headers=agency_headers(hub, owner),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    paths = {e["path"] for e in response.json()["errors"]}
    assert paths == {"$.schema.properties.name.title", "$.schema.properties.uscc.x-sensitivity"}


async def test_not_shared_topics_need_a_legal_basis(hub: Hub) -> None:
    owner = await make_agency(hub)
    response = await hub.client.post(
        f"{BASE}/topics",
        json={
            "code": unique("t_"),
            "title": "不共享",
            "sharing_type": "not_shared",
            "schema": ENTERPRISE_SCHEMA,
        },
        headers=agency_headers(hub, owner),
    )
    assert response.status_code == 422


async def test_new_versions_may_only_add_optional_items(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    headers = agency_headers(hub, owner)
    added = copy.deepcopy(ENTERPRISE_SCHEMA)
    added["properties"]["website"] = {"type": "string", "title": "网站"}
    ok = await hub.client.post(
        f"{BASE}/topics/{topic}/versions", json={"schema": added}, headers=headers
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["current_version"] == 2

    required = copy.deepcopy(added)
    required["properties"]["fax"] = {"type": "string", "title": "传真"}
    required["required"] = [*required["required"], "fax"]
    refused = await hub.client.post(
        f"{BASE}/topics/{topic}/versions", json={"schema": required}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "$.schema.required"

    removed = copy.deepcopy(added)
    del removed["properties"]["industry"]
    refused = await hub.client.post(
        f"{BASE}/topics/{topic}/versions", json={"schema": removed}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "$.schema.properties.industry"

    other = await make_agency(hub)
    forbidden = await hub.client.post(
        f"{BASE}/topics/{topic}/versions",
        json={"schema": added},
        headers=agency_headers(hub, other),
    )
    assert forbidden.status_code == 403

    # Records say which version they follow; v1 records cannot carry the v2 item.
    result = await publish(
        hub,
        owner,
        topic,
        [
            {"record_id": "a", "data": enterprise(0, website="https://a.cn"), "schema_version": 2},
            {"record_id": "b", "data": enterprise(0, website="https://b.cn"), "schema_version": 1},
        ],
    )
    assert result["counts"]["accepted"] == 1
    assert result["rejected"][0]["errors"][0]["path"] == "$[1].data.website"


async def test_search_and_paginate_topics_and_items(hub: Hub) -> None:
    owner = await make_agency(hub)
    marker = unique("zz")
    codes = []
    for _ in range(3):
        code = f"{marker}_{unique('')}"
        response = await hub.client.post(
            f"{BASE}/topics",
            json={
                "code": code,
                "title": "死亡登记",
                "sharing_type": "conditional",
                "schema": ENTERPRISE_SCHEMA,
            },
            headers=agency_headers(hub, owner),
        )
        assert response.status_code == 201
        codes.append(code)
    headers = agency_headers(hub, owner)
    first = (
        await hub.client.get(f"{BASE}/topics", params={"q": marker, "limit": 2}, headers=headers)
    ).json()
    assert [t["code"] for t in first["data"]] == sorted(codes)[:2]
    second = (
        await hub.client.get(
            f"{BASE}/topics",
            params={"q": marker, "limit": 2, "cursor": first["next"]},
            headers=headers,
        )
    ).json()
    assert [t["code"] for t in second["data"]] == sorted(codes)[2:]
    assert second["next"] is None

    by_owner = (
        await hub.client.get(f"{BASE}/topics", params={"owner": owner}, headers=headers)
    ).json()
    assert {t["code"] for t in by_owner["data"]} == set(codes)
    # An empty search box filters nothing.
    for path, params in (("topics", {"owner": owner}), ("data-items", {"topic": codes[0]})):
        unfiltered = await hub.client.get(f"{BASE}/{path}", params=params, headers=headers)
        blank = await hub.client.get(f"{BASE}/{path}", params={**params, "q": ""}, headers=headers)
        assert blank.json()["data"] == unfiltered.json()["data"] != [], path
    # LIKE's wildcards are searched as characters (govhub_common.db.contains_pattern).
    for wildcard in ("%", "__", "\\"):
        literal = await hub.client.get(
            f"{BASE}/topics", params={"owner": owner, "q": wildcard}, headers=headers
        )
        assert literal.status_code == 200 and literal.json()["data"] == [], wildcard

    items = (
        await hub.client.get(
            f"{BASE}/data-items",
            params={"topic": codes[0], "personal": "true", "limit": 2},
            headers=headers,
        )
    ).json()
    assert [i["name"] for i in items["data"]] == ["legal_rep_id", "legal_rep_name"]
    rest = (
        await hub.client.get(
            f"{BASE}/data-items",
            params={"topic": codes[0], "personal": "true", "cursor": items["next"]},
            headers=headers,
        )
    ).json()
    assert [i["name"] for i in rest["data"]] == ["mobile"]
    assert items["next"] and rest["next"] is None
    # A cursor of another list (topics page by code alone) is not one of this list.
    wrong = await hub.client.get(
        f"{BASE}/data-items", params={"cursor": first["next"]}, headers=headers
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_cursor"
    found = (
        await hub.client.get(
            f"{BASE}/data-items", params={"q": "信用代码", "topic": codes[1]}, headers=headers
        )
    ).json()
    assert [i["name"] for i in found["data"]] == ["uscc"]


async def test_catalog_needs_an_exchange_scope(hub: Hub) -> None:
    response = await hub.client.get(f"{BASE}/topics", headers=hub.auth("gz-amr", "sms:send"))
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


PERMIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["permit_no"],
    "properties": {
        "permit_no": {"type": "string", "title": "许可证编号", "x-sensitivity": "public"},
        "holder": {"type": "string", "title": "持证人", "x-sensitivity": "public"},
    },
}


async def test_a_topic_is_judged_by_its_own_databases_schema(hub: Hub, fresh_db_url: str) -> None:
    """Two hubs in one process (as tests and an operator's tools run them) on two databases
    that each have a topic of the same code and version with different schemas: each hub
    judges and delivers records by its own database's schema, not the one it saw first."""
    code = unique("t_")
    owner = await make_agency(hub)
    await make_topic(hub, owner, code=code)
    first = await publish(
        hub,
        owner,
        code,
        [
            {"record_id": "e1", "data": enterprise(0)},
            {"record_id": "p1", "data": {"permit_no": "粤-1"}},
        ],
    )
    assert [r["record_id"] for r in first["accepted"]] == ["e1"]

    async with running_hub(fresh_db_url) as other:
        other_owner = await make_agency(other)
        await make_topic(other, other_owner, code=code, schema=PERMIT_SCHEMA)
        reader = await make_agency(other)
        sub = await subscribe(other, reader, code, ["permit_no", "holder"])
        result = await publish(
            other,
            other_owner,
            code,
            [
                {"record_id": "p2", "data": {"permit_no": "粤-2", "holder": "李四"}},
                {"record_id": "e2", "data": enterprise(1)},
            ],
        )
        assert [r["record_id"] for r in result["accepted"]] == ["p2"]
        assert [r["index"] for r in result["rejected"]] == [1]
        feed = await other.client.get(
            f"{BASE}/subscriptions/{sub['id']}/records",
            params={"wait": 0},
            headers=agency_headers(other, reader),
        )
        assert feed.status_code == 200, feed.text
        assert [r["data"] for r in feed.json()["data"]] == [{"permit_no": "粤-2", "holder": "李四"}]
