"""Topic mappings through the registry's API (issue 17, point 2): created for a topic the
exchange created a moment before, checked against the catalog the registry learns from the
exchange's events, versioned, and kept over the mapping file across restarts."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from govhub_common.city.format import dump_documents, kind_specs
from govhub_common.testing import Hub, running_hub, wait_for
from tests.registry.support import make_uscc

EXCHANGE = "/exchange/v1"
MAPPINGS = "/registry/v1/mappings"
AGENCY_SCOPES = ("exchange:publish", "exchange:subscribe", "exchange:catalog")

# A second city's topic: other names than the demo's.
FIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "credit_code": {"title": "统一社会信用代码", "type": "string", "format": "cn-uscc"},
        "firm_name": {"title": "企业名称", "type": "string"},
        "opened_on": {"title": "开业日期", "type": "string", "format": "date"},
        "phone": {"title": "联系电话", "type": "string"},
    },
    "required": ["credit_code", "firm_name", "opened_on"],
}
FIRM_MAPPING: dict[str, Any] = {
    "subject": "legal_entity",
    "key": "credit_code",
    "valid_from": "opened_on",
    "attributes": {
        "name": {"field": "firm_name", "rank": 1},
        "mobile": {"field": "phone", "rank": 1, "type": "mobile"},
        "status": {"value": "active", "rank": 1},
    },
    "fact": {"kind": "registration", "registration": "business_licence", "start_date": "opened_on"},
}


async def new_topic(hub: Hub, code: str | None = None) -> tuple[str, str]:
    """An agency and a topic it owns, created through the exchange's API."""
    agency = f"t-{uuid.uuid4().hex[:8]}"
    reply = await hub.client.post(
        f"{EXCHANGE}/agencies",
        json={"code": agency, "name": "某市市场监管局"},
        headers=hub.operator(),
    )
    assert reply.status_code == 201, reply.text
    topic = code or f"firm_{uuid.uuid4().hex[:8]}"
    reply = await hub.client.post(
        f"{EXCHANGE}/topics",
        json={
            "code": topic,
            "title": "企业开业",
            "sharing_type": "unconditional",
            "schema": FIRM_SCHEMA,
        },
        headers=hub.auth(agency, *AGENCY_SCOPES),
    )
    assert reply.status_code == 201, reply.text
    # The exchange's outbox hands the catalog event to the bus (in-process: handled at once).
    await hub.settle()
    return agency, topic


async def test_a_mapping_made_through_the_api_feeds_the_registry(hub: Hub) -> None:
    agency, topic = await new_topic(hub)
    reply = await hub.client.post(
        MAPPINGS, json={"topic": topic, **FIRM_MAPPING}, headers=hub.operator()
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["version"] == 1 and reply.json()["source"] == "api"

    uscc = make_uscc()
    data = {
        "credit_code": uscc,
        "firm_name": "某市新开科技有限公司",
        "opened_on": "2024-05-06",
        "phone": "13800138001",
    }
    reply = await hub.client.post(
        f"{EXCHANGE}/topics/{topic}/records",
        json=[{"record_id": "f1", "data": data}],
        headers=hub.auth(agency, *AGENCY_SCOPES),
    )
    assert reply.status_code == 200, reply.text
    await hub.settle()

    entity = await hub.client.get(f"/registry/v1/legal-entities/{uscc}", headers=hub.operator())
    assert entity.status_code == 200, entity.text
    body = entity.json()
    assert body["attributes"]["name"] == "某市新开科技有限公司"
    assert body["attributes"]["mobile"] == "+8613800138001"
    assert body["sources"]["name"]["agency"] == agency

    # A change is a new version; the records ingested after it follow it.
    changed = {**FIRM_MAPPING, "attributes": {"name": {"field": "firm_name", "rank": 1}}}
    reply = await hub.client.put(f"{MAPPINGS}/{topic}", json=changed, headers=hub.operator())
    assert reply.status_code == 200, reply.text
    assert reply.json()["version"] == 2
    versions = (await hub.client.get(f"{MAPPINGS}/{topic}/versions", headers=hub.operator())).json()
    assert [v["version"] for v in versions["data"]] == [1, 2]
    assert "mobile" in versions["data"][0]["definition"]["attributes"]
    assert "mobile" not in versions["data"][1]["definition"]["attributes"]
    later_uscc = make_uscc()
    reply = await hub.client.post(
        f"{EXCHANGE}/topics/{topic}/records",
        json=[{"record_id": "f2", "data": {**data, "credit_code": later_uscc}}],
        headers=hub.auth(agency, *AGENCY_SCOPES),
    )
    assert reply.status_code == 200, reply.text
    await hub.settle()
    later = await hub.client.get(
        f"/registry/v1/legal-entities/{later_uscc}", headers=hub.operator()
    )
    assert later.status_code == 200, later.text
    assert "mobile" not in later.json()["attributes"]
    # The record ingested before the change keeps what it gave.
    earlier = await hub.client.get(f"/registry/v1/legal-entities/{uscc}", headers=hub.operator())
    assert earlier.json()["attributes"]["mobile"] == "+8613800138001"

    # An agency reads mappings with registry:read but cannot change them.
    reader = hub.auth(agency, "registry:read")
    assert (await hub.client.get(f"{MAPPINGS}/{topic}", headers=reader)).status_code == 200
    refused = await hub.client.put(f"{MAPPINGS}/{topic}", json=changed, headers=reader)
    assert refused.status_code == 403, refused.text


async def test_a_mapping_naming_an_unknown_topic_or_item_is_refused_naming_the_field(
    hub: Hub,
) -> None:
    unknown = await hub.client.post(
        MAPPINGS, json={"topic": "no_such_topic_here", **FIRM_MAPPING}, headers=hub.operator()
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["code"] == "unknown_reference"
    assert [e["path"] for e in unknown.json()["errors"]] == ["$.topic"]

    _, topic = await new_topic(hub)
    typo = {
        **FIRM_MAPPING,
        "attributes": {"name": {"field": "firm_nmae", "rank": 1}},
        "fact": {**FIRM_MAPPING["fact"], "start_date": "opened"},
    }
    reply = await hub.client.post(MAPPINGS, json={"topic": topic, **typo}, headers=hub.operator())
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "unknown_reference"
    assert {e["path"] for e in reply.json()["errors"]} == {
        "$.attributes.name.field",
        "$.fact.start_date",
    }
    # Nothing was stored.
    assert (await hub.client.get(f"{MAPPINGS}/{topic}", headers=hub.operator())).status_code == 404

    created = await hub.client.post(
        MAPPINGS, json={"topic": topic, **FIRM_MAPPING}, headers=hub.operator()
    )
    assert created.status_code == 201, created.text
    again = await hub.client.post(
        MAPPINGS, json={"topic": topic, **FIRM_MAPPING}, headers=hub.operator()
    )
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    bad_key = await hub.client.put(
        f"{MAPPINGS}/{topic}", json={**FIRM_MAPPING, "key": "uscc"}, headers=hub.operator()
    )
    assert bad_key.status_code == 422, bad_key.text
    assert [e["path"] for e in bad_key.json()["errors"]] == ["$.key"]


async def test_a_restart_keeps_the_api_mapping_over_the_file(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shipped file maps enterprise_registered and person_died at the first start.
    async with running_hub(fresh_db_url) as hub:
        first = await hub.client.get(f"{MAPPINGS}/enterprise_registered", headers=hub.operator())
        assert first.status_code == 200, first.text
        assert first.json()["source"] == "file" and first.json()["version"] == 1
        await new_topic(hub, code="enterprise_registered")
        mine = {
            "subject": "legal_entity",
            "key": "credit_code",
            "attributes": {"name": {"field": "firm_name", "rank": 1}},
        }
        reply = await hub.client.put(
            f"{MAPPINGS}/enterprise_registered", json=mine, headers=hub.operator()
        )
        assert reply.status_code == 200, reply.text
        removed = await hub.client.delete(f"{MAPPINGS}/person_died", headers=hub.operator())
        assert removed.status_code == 204, removed.text

    # The next start reads a changed file: it changes enterprise_registered (the API's
    # now) and quality_code_assigned (still the file's).
    city = Path(os.environ["GOVHUB_CITY_FILES"])  # Guangzhou's (tests/conftest.py)
    shipped = {spec["topic"]: spec for _, spec in kind_specs(city, "RegistryMapping")}
    shipped["enterprise_registered"]["attributes"]["name"]["rank"] = 7
    shipped["quality_code_assigned"]["attributes"]["org_code"]["rank"] = 7
    changed_file = tmp_path / "registry-mappings.yaml"
    changed_file.write_text(
        dump_documents([("RegistryMapping", spec) for spec in shipped.values()]), encoding="utf-8"
    )
    monkeypatch.setenv("GOVHUB_CITY_FILES", str(changed_file))

    async with running_hub(fresh_db_url) as hub:
        from_file = await hub.client.get(
            f"{MAPPINGS}/quality_code_assigned", headers=hub.operator()
        )
        assert from_file.status_code == 200, from_file.text
        assert from_file.json()["source"] == "file" and from_file.json()["version"] == 2
        assert from_file.json()["definition"]["attributes"]["org_code"]["rank"] == 7
        kept = await hub.client.get(f"{MAPPINGS}/enterprise_registered", headers=hub.operator())
        assert kept.status_code == 200, kept.text
        assert kept.json()["source"] == "api" and kept.json()["version"] == 2
        assert kept.json()["definition"]["key"] == "credit_code"
        assert set(kept.json()["definition"]["attributes"]) == {"name"}
        gone = await hub.client.get(f"{MAPPINGS}/person_died", headers=hub.operator())
        assert gone.status_code == 404, gone.text
        versions = (
            await hub.client.get(f"{MAPPINGS}/person_died/versions", headers=hub.operator())
        ).json()["data"]
        assert [(v["source"], v["definition"] is None) for v in versions] == [
            ("file", False),
            ("api", True),
        ]


@pytest.mark.rabbitmq
async def test_a_topic_created_a_moment_ago_is_mapped_through_rabbitmq(rabbit_hub: Hub) -> None:
    """The catalog event and the records travel through the real broker: the registry's
    `registry.catalog` and `registry.records` groups are bound to them."""
    hub = rabbit_hub
    agency, topic = await new_topic(hub)

    async def mapped() -> bool:
        reply = await hub.client.post(
            MAPPINGS, json={"topic": topic, **FIRM_MAPPING}, headers=hub.operator()
        )
        # 422 until the catalog event has been consumed; nothing is stored meanwhile.
        assert reply.status_code in (201, 422), reply.text
        return reply.status_code == 201

    await wait_for(mapped, timeout=20)
    uscc = make_uscc()
    data = {"credit_code": uscc, "firm_name": "某市快递服务有限公司", "opened_on": "2024-06-01"}
    reply = await hub.client.post(
        f"{EXCHANGE}/topics/{topic}/records",
        json=[{"record_id": "q1", "data": data}],
        headers=hub.auth(agency, *AGENCY_SCOPES),
    )
    assert reply.status_code == 200, reply.text

    async def looked_up() -> dict[str, Any] | None:
        entity = await hub.client.get(f"/registry/v1/legal-entities/{uscc}", headers=hub.operator())
        return entity.json() if entity.status_code == 200 else None

    body = await wait_for(looked_up, timeout=20)
    assert body["attributes"]["name"] == "某市快递服务有限公司"


async def test_an_operator_in_person_is_named_in_the_mapping_versions(hub: Hub) -> None:
    import time

    from govhub_common.persons import PersonClaims

    _, topic = await new_topic(hub)
    ops = PersonClaims(
        person="local:ops", name="运维值班", role="operator", auth_time=int(time.time()),
        agency="gz-datacenter",
    )  # fmt: skip
    headers = hub.auth("gz-datacenter", "operator", person=ops)
    reply = await hub.client.post(MAPPINGS, json={"topic": topic, **FIRM_MAPPING}, headers=headers)
    assert reply.status_code == 201, reply.text
    assert reply.json()["updated_by"] == "gz-datacenter/local:ops"
    versions = (await hub.client.get(f"{MAPPINGS}/{topic}/versions", headers=headers)).json()
    assert [v["created_by"] for v in versions["data"]] == ["gz-datacenter/local:ops"]
