"""Publishing batches: per-record validation, quarantine, duplicates, versions, limits."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from govhub_common.testing import Hub
from govhub_exchange.publishing import service
from govhub_exchange.publishing.parsing import split_body
from govhub_exchange.publishing.schemas import PublishResult
from tests.exchange.support import (
    BASE,
    VALID_USCCS,
    agency_headers,
    enterprise,
    make_agency,
    make_topic,
    publish,
)


async def test_each_record_is_judged_on_its_own(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    bad_check_char = VALID_USCCS[0][:-1] + ("A" if VALID_USCCS[0][-1] != "A" else "B")
    records = [
        {"record_id": "r1", "data": enterprise(0), "business_time": "2008-03-01T09:30:00+08:00"},
        {"record_id": "r2", "data": enterprise(1, uscc=bad_check_char)},
        {"record_id": "r3", "data": enterprise(2, legal_rep_id="110105194912310021")},
        {"data": enterprise(0)},
        {"record_id": "r5", "data": {k: v for k, v in enterprise(1).items() if k != "name"}},
        {"record_id": "r6", "data": enterprise(2, registered_capital="lots", salary=1)},
        "not an object",
    ]
    result = await publish(hub, owner, topic, records)
    assert result["counts"] == {"accepted": 1, "duplicates": 0, "rejected": 6}
    assert result["accepted"] == [{"index": 0, "record_id": "r1", "seq": 1, "version": 1}]
    faults = {r["index"]: sorted(e["path"] for e in r["errors"]) for r in result["rejected"]}
    assert faults == {
        1: ["$[1].data.uscc"],
        2: ["$[2].data.legal_rep_id"],
        3: ["$[3].record_id"],
        4: ["$[4].data.name"],
        5: ["$[5].data.registered_capital", "$[5].data.salary"],
        6: ["$[6]"],
    }

    quarantine = await hub.client.get(
        f"{BASE}/topics/{topic}/quarantine", headers=agency_headers(hub, owner)
    )
    held = quarantine.json()["data"]
    assert [q["index"] for q in held] == [1, 2, 3, 4, 5, 6]
    assert held[0]["record_id"] == "r2"
    assert orjson.loads(held[0]["payload"])["data"]["uscc"] == bad_check_char
    assert held[0]["errors"][0]["path"] == "$[1].data.uscc"
    # The reply is the documented PublishResult, written without pydantic on the way out.
    assert PublishResult.model_validate(result).counts.rejected == 6
    paged = (
        await hub.client.get(
            f"{BASE}/topics/{topic}/quarantine",
            params={"limit": 4},
            headers=agency_headers(hub, owner),
        )
    ).json()
    assert [q["index"] for q in paged["data"]] == [1, 2, 3, 4] and paged["next"]
    rest = (
        await hub.client.get(
            f"{BASE}/topics/{topic}/quarantine",
            params={"limit": 4, "cursor": paged["next"]},
            headers=agency_headers(hub, owner),
        )
    ).json()
    assert [q["index"] for q in rest["data"]] == [5, 6] and rest["next"] is None

    # Others cannot read the owner's quarantine.
    other = await make_agency(hub)
    assert (
        await hub.client.get(
            f"{BASE}/topics/{topic}/quarantine", headers=agency_headers(hub, other)
        )
    ).status_code == 403


async def test_duplicates_are_reported_and_changes_become_new_versions(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    first = await publish(hub, owner, topic, [{"record_id": "e1", "data": enterprise(0)}])
    assert first["counts"]["accepted"] == 1
    again = await publish(
        hub,
        owner,
        topic,
        [
            {"record_id": "e1", "data": enterprise(0)},
            {"record_id": "e1", "data": enterprise(0, address="广州市越秀区中山五路2号")},
            {"record_id": "e1", "data": enterprise(0, address="广州市越秀区中山五路2号")},
            {"record_id": "e2", "data": enterprise(1)},
        ],
    )
    assert again["counts"] == {"accepted": 2, "duplicates": 2, "rejected": 0}
    assert again["duplicates"] == [
        {"index": 0, "record_id": "e1", "version": 1, "seq": 1},
        {"index": 2, "record_id": "e1", "version": 2, "seq": 2},
    ]
    assert [(a["record_id"], a["version"], a["seq"]) for a in again["accepted"]] == [
        ("e1", 2, 2),
        ("e2", 1, 3),
    ]


async def test_concurrent_publishers_of_the_same_records_never_append_one_twice(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    same = [{"record_id": f"c{i}", "data": enterprise(i)} for i in range(40)]
    results = await asyncio.gather(*(publish(hub, owner, topic, same) for _ in range(4)))
    assert sum(r["counts"]["accepted"] for r in results) == 40
    assert sum(r["counts"]["duplicates"] for r in results) == 120
    seqs = sorted(a["seq"] for r in results for a in r["accepted"])
    assert seqs == list(range(1, 41))
    assert {(d["version"], d["seq"] in seqs) for r in results for d in r["duplicates"]} == {
        (1, True)
    }

    # Different contents at once: each becomes its own version, numbered without gaps.
    changed = [
        [{"record_id": f"c{i}", "data": enterprise(i, address=f"广州市{k}号")} for i in range(40)]
        for k in range(3)
    ]
    results = await asyncio.gather(*(publish(hub, owner, topic, batch) for batch in changed))
    versions: dict[str, list[int]] = {}
    for r in results:
        assert r["counts"] == {"accepted": 40, "duplicates": 0, "rejected": 0}
        for a in r["accepted"]:
            versions.setdefault(a["record_id"], []).append(a["version"])
    assert all(sorted(v) == [2, 3, 4] for v in versions.values())
    assert sorted(a["seq"] for r in results for a in r["accepted"]) == list(range(41, 161))


async def test_ndjson_bad_lines_are_rejected_with_their_numbers(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    lines = [
        orjson.dumps({"record_id": "n1", "data": enterprise(0)}),
        b'{"record_id": "n2", "data": {',
        b"",
        orjson.dumps({"record_id": "n3", "data": enterprise(1)}),
    ]
    response = await hub.client.post(
        f"{BASE}/topics/{topic}/records",
        content=b"\n".join(lines) + b"\n",
        headers={**agency_headers(hub, owner), "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["counts"] == {"accepted": 2, "duplicates": 0, "rejected": 1}
    [rejected] = result["rejected"]
    assert rejected["line"] == 2 and rejected["index"] == 1
    assert "line 2" in rejected["errors"][0]["message"]


async def test_a_json_array_with_one_broken_line_rejects_only_that_line(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    body = (
        b"[\n"
        + b",\n".join(
            [
                orjson.dumps({"record_id": "j1", "data": enterprise(0)}),
                b'{"record_id": "j2", "data": {"uscc": }',
                orjson.dumps({"record_id": "j3", "data": enterprise(1)}),
            ]
        )
        + b"\n]\n"
    )
    response = await hub.client.post(
        f"{BASE}/topics/{topic}/records",
        content=body,
        headers={**agency_headers(hub, owner), "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert [a["record_id"] for a in result["accepted"]] == ["j1", "j3"]
    [rejected] = result["rejected"]
    assert (rejected["index"], rejected["line"]) == (1, 3)
    assert rejected["errors"][0]["path"] == "$[1]"


async def test_request_level_faults_are_problems(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    headers = agency_headers(hub, owner)
    cases = [
        (await hub.client.post(f"{BASE}/topics/no_such/records", json=[], headers=headers), 404),
        (
            await hub.client.post(
                f"{BASE}/topics/{topic}/records",
                content=b"a,b",
                headers={**headers, "content-type": "text/csv"},
            ),
            415,
        ),
        (
            await hub.client.post(
                f"{BASE}/topics/{topic}/records",
                content=b"[{",
                headers={**headers, "content-type": "application/json"},
            ),
            400,
        ),
        (
            await hub.client.post(
                f"{BASE}/topics/{topic}/records", json=[{}] * 10_001, headers=headers
            ),
            413,
        ),
        (
            await hub.client.post(
                f"{BASE}/topics/{topic}/records",
                json=[{"record_id": "x", "data": enterprise(0)}],
                headers=agency_headers(hub, await make_agency(hub)),
            ),
            403,
        ),
        (
            await hub.client.post(
                f"{BASE}/topics/{topic}/records",
                json=[],
                headers=hub.auth(owner, "exchange:subscribe"),
            ),
            403,
        ),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status
    # Nothing was appended by any of these.
    detail = (await hub.client.get(f"{BASE}/topics/{topic}", headers=headers)).json()
    assert detail["head_seq"] == 0


async def test_one_event_per_batch_with_the_records(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    await publish(
        hub, owner, topic, [{"record_id": f"b{i}", "data": enterprise(i)} for i in range(50)]
    )
    async with hub.runtime.db.session() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT routing_key, payload->'data' AS data FROM exchange.outbox "
                    "WHERE payload->'data'->>'topic' = :t"
                ),
                {"t": topic},
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].routing_key == f"exchange.record.published.{topic}"
    data = rows[0].data
    assert data["publisher"] == owner and data["topic_version"] == 1
    assert [r["seq"] for r in data["records"]] == list(range(1, 51))
    assert data["records"][0]["data"]["uscc"] == VALID_USCCS[0]


async def test_a_batch_judged_before_a_concurrent_append_is_judged_again(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Versions and duplicates are judged against the log as it was when the batch was read;
    # another publisher appending the same records before this batch takes the topic's
    # lock must not leave that judgement standing. The other append is made to land
    # exactly in between.
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    await publish(hub, owner, topic, [{"record_id": "r1", "data": enterprise(1)}])
    real = service._latest_versions
    meanwhile: list[dict[str, Any]] = []

    async def read_then_another_publisher_appends(
        raw: Any, topic_code: str, ids: list[str], *, after_seq: int | None
    ) -> Any:
        view = await real(raw, topic_code, ids, after_seq=after_seq)
        if after_seq is None and meanwhile:
            await publish(hub, owner, topic, [meanwhile.pop()])
        return view

    monkeypatch.setattr(service, "_latest_versions", read_then_another_publisher_appends)

    async def publish_directly(records: list[dict[str, Any]]) -> dict[str, Any]:
        items = split_body("application/json", orjson.dumps(records), max_records=100)
        return await service.publish(hub.runtime.db, publisher=owner, topic_code=topic, items=items)

    # r1 repeats version 1, but version 2 (another content) is appended meanwhile: r1 is
    # then no duplicate but version 3.
    meanwhile.append({"record_id": "r1", "data": enterprise(1, address="广州市越秀区")})
    result = await publish_directly(
        [{"record_id": "r1", "data": enterprise(1)}, {"record_id": "r9", "data": enterprise(9)}]
    )
    assert result["counts"] == {"accepted": 2, "duplicates": 0, "rejected": 0}
    assert [(a["record_id"], a["version"]) for a in result["accepted"]] == [("r1", 3), ("r9", 1)]

    # r2 is new when read, but the same r2 is appended meanwhile: it is a duplicate of it.
    meanwhile.append({"record_id": "r2", "data": enterprise(2)})
    result = await publish_directly([{"record_id": "r2", "data": enterprise(2)}])
    assert result["counts"] == {"accepted": 0, "duplicates": 1, "rejected": 0}
    assert result["duplicates"][0]["version"] == 1

    async with hub.runtime.db.session() as session:
        log = await session.execute(
            sa.text(
                "SELECT record_id, version, seq FROM exchange.records WHERE topic_code = :t "
                "ORDER BY seq"
            ),
            {"t": topic},
        )
        assert [tuple(row) for row in log] == [
            ("r1", 1, 1),
            ("r1", 2, 2),
            ("r1", 3, 3),
            ("r9", 1, 4),
            ("r2", 1, 5),
        ]
