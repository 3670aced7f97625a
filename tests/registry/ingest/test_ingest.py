"""Feeding the registry from exchange events: golden records, provenance, registrations,
replays and unmapped records, through the bus and the API."""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path

import orjson

from govhub_common.testing import Hub, plan_scans
from tests.registry.support import (
    collect,
    enterprise,
    make_ric,
    make_uscc,
    person,
    publish,
    published,
    record,
)


async def test_enterprise_registration_builds_the_legal_entity_with_provenance(hub: Hub) -> None:
    changes = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", "registry.legal_entity.changed")
    uscc = make_uscc()
    rec = record(enterprise(uscc))
    await publish(hub, published("enterprise_registered", "gz-amr", [rec]))
    await publish(
        hub,
        published(
            "local_tax_registered",
            "gz-ltax",
            [record({"uscc": uscc, "tax_no": "T-1", "registered_date": "2024-03-20"})],
        ),
    )

    reply = await hub.client.get(f"/registry/v1/legal-entities/{uscc}", headers=hub.operator())
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["attributes"]["name"] == "广州市海创信息有限公司"
    assert body["attributes"]["status"] == "active"
    assert body["attributes"]["mobile"] == "+8613800138000"
    assert body["sources"]["name"] == {
        "agency": "gz-amr",
        "seq": rec["seq"],
        "valid_from": "2024-03-01",
    }

    regs = (
        await hub.client.get(
            f"/registry/v1/legal-entities/{uscc}/registrations", headers=hub.operator()
        )
    ).json()["data"]
    by_kind = {(r["agency"], r["kind"]): r for r in regs}
    assert by_kind[("gz-amr", "business_licence")]["status"] == "active"
    assert by_kind[("gz-ltax", "tax_registration")]["reference"] == "T-1"
    assert by_kind[("gz-ltax", "tax_registration")]["start_date"] == "2024-03-20"

    mine = [
        i for i in changes.items("registry.legal_entity.changed", "entities") if i["uscc"] == uscc
    ]
    assert mine and mine[0]["source_agency"] == "gz-amr" and "name" in mine[0]["attributes"]
    assert set(mine[0]["values"]) == set(mine[0]["attributes"])
    assert mine[0]["values"]["name"] == "广州市海创信息有限公司"
    assert mine[0]["values"]["mobile"] == "+8613800138000"

    history = (
        await hub.client.get(f"/registry/v1/legal-entities/{uscc}/history", headers=hub.operator())
    ).json()["data"]
    name_rows = [h for h in history if h["attribute"] == "name"]
    assert name_rows[0]["source_agency"] == "gz-amr" and name_rows[0]["seq"] == rec["seq"]
    assert name_rows[0]["valid_from"] == "2024-03-01" and name_rows[0]["valid_to"] is None


async def test_deregistration_and_replay_change_nothing_twice(hub: Hub) -> None:
    uscc = make_uscc()
    await publish(hub, published("enterprise_registered", "gz-amr", [record(enterprise(uscc))]))
    dereg = published(
        "enterprise_deregistered",
        "gz-amr",
        [record({"uscc": uscc, "deregistered_date": "2024-09-30", "reason": "吊销营业执照"})],
    )
    await hub.settle()  # the registration's own change event is out before we listen
    changes = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", "registry.legal_entity.changed")
    await publish(hub, dereg)
    await hub.settle()
    history_before = (
        await hub.client.get(f"/registry/v1/legal-entities/{uscc}/history", headers=hub.operator())
    ).json()["data"]
    await publish(hub, dereg)  # the same event again: the inbox drops it
    await publish(
        hub, published("enterprise_deregistered", "gz-amr", dereg.data["records"])
    )  # same records, new event
    await hub.settle()
    history_after = (
        await hub.client.get(f"/registry/v1/legal-entities/{uscc}/history", headers=hub.operator())
    ).json()["data"]
    assert history_after == history_before

    body = (
        await hub.client.get(f"/registry/v1/legal-entities/{uscc}", headers=hub.operator())
    ).json()
    assert body["attributes"]["status"] == "revoked"
    mine = [
        i for i in changes.items("registry.legal_entity.changed", "entities") if i["uscc"] == uscc
    ]
    assert len(mine) == 1 and set(mine[0]["attributes"]) == {"status", "deregistered_date"}
    assert mine[0]["values"] == {"status": "revoked", "deregistered_date": "2024-09-30"}
    regs = (
        await hub.client.get(
            f"/registry/v1/legal-entities/{uscc}/registrations", headers=hub.operator()
        )
    ).json()["data"]
    licence = next(r for r in regs if r["kind"] == "business_licence")
    assert licence["status"] == "deregistered" and licence["end_date"] == "2024-09-30"


async def test_a_payment_sent_again_in_a_new_event_counts_once(hub: Hub) -> None:
    id_number = make_ric(date(1949, 10, 1))
    await publish(hub, published("person_registered", "gz-psb", [record(person(id_number))]))
    may = record(
        {"id_number": id_number, "name": "张三", "amount": 2800, "paid_date": "2024-05-10"}
    )
    june = record(
        {"id_number": id_number, "name": "张三", "amount": 2800, "paid_date": "2024-06-10"}
    )
    await publish(hub, published("pension_paid", "gz-hrss", [may, may]))  # twice in one batch
    await publish(hub, published("pension_paid", "gz-hrss", [may]))  # again, in a new event
    await publish(hub, published("pension_paid", "gz-hrss", [june]))
    regs = (
        await hub.client.get(
            f"/registry/v1/persons/{id_number}/registrations", headers=hub.operator()
        )
    ).json()["data"]
    [pension] = [r for r in regs if r["kind"] == "pension"]
    assert pension["details"]["payments"] == 2
    assert pension["start_date"] == "2024-05-10" and pension["last_date"] == "2024-06-10"


async def test_two_topics_of_one_agency_may_share_a_sequence_number(hub: Hub) -> None:
    # Sequence numbers are per topic: record 7 of registrations and record 7 of
    # deregistrations are two records, not one sent twice.
    uscc = make_uscc()
    seq = 7_000_000_000 + int(uuid.uuid4().int % 1_000_000_000)
    await publish(
        hub, published("enterprise_registered", "gz-amr", [record(enterprise(uscc), seq=seq)])
    )
    dereg = {"uscc": uscc, "deregistered_date": "2024-09-30", "reason": "吊销营业执照"}
    await publish(hub, published("enterprise_deregistered", "gz-amr", [record(dereg, seq=seq)]))
    body = (
        await hub.client.get(f"/registry/v1/legal-entities/{uscc}", headers=hub.operator())
    ).json()
    assert body["attributes"]["status"] == "revoked"
    history = (
        await hub.client.get(f"/registry/v1/legal-entities/{uscc}/history", headers=hub.operator())
    ).json()["data"]
    assert {(h["source_topic"], h["seq"]) for h in history} >= {
        ("enterprise_registered", seq),
        ("enterprise_deregistered", seq),
    }


async def test_a_changed_mobile_travels_with_its_new_value(hub: Hub) -> None:
    id_number = make_ric(date(1966, 8, 2))
    first = person(id_number, "刘芳", mobile="13900139000")
    await publish(hub, published("person_registered", "gz-psb", [record(first)]))
    await hub.settle()
    changes = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", "registry.person.changed")
    moved = dict(first, mobile="13700137000")
    await publish(
        hub,
        published("person_registered", "gz-psb", [record(moved, when="2024-06-01T10:00:00+08:00")]),
    )
    await hub.settle()
    mine = [
        i
        for i in changes.items("registry.person.changed", "persons")
        if i["id_number"] == id_number
    ]
    assert len(mine) == 1
    assert mine[0]["attributes"] == ["mobile"]
    assert mine[0]["values"] == {"mobile": "+8613700137000"}


async def test_bad_records_are_kept_with_the_reason_and_the_rest_applied(hub: Hub) -> None:
    good, bad = make_uscc(), make_uscc()
    records = [
        record(enterprise(good)),
        record(enterprise(bad, established_date="2024-02-30")),
        record(enterprise(make_uscc(), mobile="12345")),
    ]
    await publish(hub, published("enterprise_registered", "gz-amr", records))
    assert (
        await hub.client.get(f"/registry/v1/legal-entities/{good}", headers=hub.operator())
    ).status_code == 200
    missing = await hub.client.get(f"/registry/v1/legal-entities/{bad}", headers=hub.operator())
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    unmapped = (
        await hub.client.get(
            "/registry/v1/unmapped-records?topic=enterprise_registered&limit=500",
            headers=hub.operator(),
        )
    ).json()["data"]
    reasons = {u["seq"]: u["reason"] for u in unmapped}
    assert reasons[records[1]["seq"]].startswith("$.records[1].data.established_date")
    assert reasons[records[2]["seq"]].startswith("$.records[2].data.mobile")


async def test_a_death_from_public_security_emits_person_deceased_once(hub: Hub) -> None:
    deaths = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", "registry.person.deceased")
    id_number = make_ric(date(1935, 8, 8))
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "陈伯"))])
    )
    died = record({"id_number": id_number, "name": "陈伯", "death_date": "2024-04-02"})
    await publish(hub, published("person_died", "gz-psb", [died]))
    await publish(
        hub,
        published(
            "death_certified",
            "gz-health",
            [record({"id_number": id_number, "name": "陈伯", "death_date": "2024-04-02"})],
        ),
    )
    await hub.settle()
    mine = [
        p
        for p in deaths.items("registry.person.deceased", "persons")
        if p["id_number"] == id_number
    ]
    assert mine == [
        {
            "id_number": id_number,
            "death_date": "2024-04-02",
            "source_agency": "gz-psb",
            "seq": died["seq"],
        }
    ]
    body = (
        await hub.client.get(f"/registry/v1/persons/{id_number}", headers=hub.operator())
    ).json()
    assert body["attributes"]["vital_status"] == "deceased"


async def test_a_thousand_records_in_one_event(hub: Hub) -> None:
    usccs = [make_uscc() for _ in range(1000)]
    changes = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", "registry.legal_entity.changed")
    await publish(
        hub,
        published(
            "enterprise_registered",
            "gz-amr",
            [record(enterprise(u, name=f"广州市测试{i}有限公司")) for i, u in enumerate(usccs)],
        ),
    )
    await hub.settle()
    events = [e for e in changes.events if any(i["uscc"] == usccs[0] for i in e.data["entities"])]
    assert len(events) == 1 and len(events[0].data["entities"]) == 1000
    last = (
        await hub.client.get(f"/registry/v1/legal-entities/{usccs[-1]}", headers=hub.operator())
    ).json()
    assert last["attributes"]["name"] == "广州市测试999有限公司"


async def test_a_thousand_record_event_is_a_handful_of_statements(hub: Hub) -> None:
    from govhub_common.db import raw_connection
    from govhub_registry.ingest.mapping import load_mapping
    from govhub_registry.ingest.service import ingest_published

    mapping = load_mapping(Path(os.environ["GOVHUB_CITY_FILES"]))  # Guangzhou's
    ids = [make_ric(date(1940 + i % 60, 1 + i % 12, 1 + i % 28)) for i in range(1000)]
    records = [record(person(i, "测试")) for i in ids]
    records[7]["data"]["birth_date"] = "not a date"  # unmappable, kept
    records[9]["data"]["id_number"] = ids[9][:-1] + ("0" if ids[9][-1] != "0" else "1")
    statements: list[str] = []

    def log(query: object) -> None:
        statements.append(str(getattr(query, "query", query)))

    async with hub.runtime.db.session() as session:
        raw = await raw_connection(session)
        # Once first, so asyncpg's one-time type introspection is not counted.
        warm_up = [record(person(make_ric(date(1939, 9, 9)), "预热")) for _ in range(3)]
        warm_up[1]["data"]["birth_date"] = "not a date"
        warm_up[2]["data"]["id_number"] = "440106193909090000"
        await ingest_published(
            session,
            topic="person_registered",
            publisher="gz-psb",
            records=warm_up,
            mapping=mapping,
        )
        raw.add_query_logger(log)
        try:
            result = await ingest_published(
                session,
                topic="person_registered",
                publisher="gz-psb",
                records=records,
                mapping=mapping,
            )
        finally:
            raw.remove_query_logger(log)
    assert result.applied + result.unmapped + result.in_review == 1000
    assert result.unmapped >= 1
    # Locks, read, assertions, registrations, golden records, conflicts, outbox, unmapped,
    # matching (candidates, decisions): a fixed number, whatever the batch size.
    assert len(statements) <= 12, statements


async def test_a_replayed_batch_probes_its_own_assertions_not_the_topics(hub: Hub) -> None:
    # A city's first load: the statistics were taken while the topic's history was small.
    # Records replayed inside a new event cost an index probe each, whatever the topic holds
    # (the NOT EXISTS before was planned as a hash of every assertion of the topic).
    from govhub_registry.ingest.service import _ASSERTIONS_SQL

    await publish(
        hub, published("enterprise_registered", "gz-amr", [record(enterprise(make_uscc()))])
    )
    async with hub.runtime.db.autocommit() as raw:
        await raw.execute("ANALYZE registry.assertion")
    usccs = [make_uscc() for _ in range(1_500)]
    for start in range(0, 1_500, 500):
        batch = [record(enterprise(u)) for u in usccs[start : start + 500]]
        await publish(hub, published("enterprise_registered", "gz-amr", batch))
    replayed = usccs[::5]  # 300 of them, as a new event would carry them again
    async with hub.runtime.db.autocommit() as raw:
        held = await raw.fetch(
            "SELECT subject_id, source_agency, seq, valid_from, attributes::text AS a, "
            "ranks::text AS r FROM registry.assertion "
            "WHERE subject_kind = 'legal_entity' AND source_topic = 'enterprise_registered' "
            "AND subject_id = ANY($1::text[])",
            replayed,
        )
        assert len(held) == len(replayed)
        columns = [[row[k] for row in held] for k in range(6)]
        replay = raw.transaction()  # explained by running it, then undone
        await replay.start()
        try:
            explained = await raw.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + _ASSERTIONS_SQL,
                "legal_entity",
                "enterprise_registered",
                *columns,
            )
        finally:
            await replay.rollback()
    (plan,) = orjson.loads(explained) if isinstance(explained, str) else explained
    assert plan["Plan"].get("Conflicting Tuples") == len(replayed), plan["Plan"]
    reads = [(s["Node Type"], s["Actual Rows"]) for s in plan_scans(plan["Plan"], "assertion")]
    assert sum(rows for _, rows in reads) <= len(replayed), reads
