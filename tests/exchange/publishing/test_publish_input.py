"""A publish judges what PostgreSQL cannot store, and duplicate keys, record by record
(issue 15, points 8 and 13): NUL, lone surrogates, business times
in the years 1 and 9999, a schema version beyond integer and a key given twice reject
their own record (quarantined with the fault's path); the rest of the batch is accepted.
Through the hub with the real RabbitMQ."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from govhub_common.testing import Hub
from tests.exchange.support import BASE, agency_headers, enterprise, make_agency, make_topic


def record(i: int, record_id: str | None = None, **data: Any) -> str:
    """A record's JSON text (a key order and escapes as written, not re-encoded)."""
    return orjson.dumps({"record_id": record_id or f"r{i}", "data": enterprise(i, **data)}).decode()


# Each hostile record as JSON text, and the path of the fault that rejects it.
HOSTILE = [
    (record(1, record_id="r\u00001"), "$[{i}].record_id"),
    (record(2, name="广州\u0000公司"), "$[{i}].data.name"),
    (record(3).replace('"name":', '"na\\u0000me":', 1), "$[{i}].data.na\\u0000me"),
    # orjson refuses a lone surrogate as it refuses a line that is not JSON: that record.
    (record(4).replace('"广州', '"\\ud800广州', 1), "$[{i}]"),
    (record(6)[:-1] + ',"business_time":"0001-01-01T00:00:00"}', "$[{i}].business_time"),
    (record(7)[:-1] + ',"business_time":"9999-12-31T23:59:59-12:00"}', "$[{i}].business_time"),
    (record(8)[:-1] + ',"schema_version":' + str(2**40) + "}", "$[{i}].schema_version"),
    # Duplicate keys: the record id (which would silently be the second), and a data item.
    ('{"record_id":"r9","record_id":"r9b",' + record(9)[1:].split(",", 1)[1], "$[{i}].record_id"),
    (record(10).replace('"name":', '"name":"x","name":', 1), "$[{i}].data.name"),
]


def check(result: dict[str, Any], hostile: list[tuple[str, str]]) -> None:
    assert result["counts"] == {"accepted": 2, "duplicates": 0, "rejected": len(hostile)}
    assert [a["index"] for a in result["accepted"]] == [0, len(hostile) + 1]
    faults = {r["index"]: [e["path"] for e in r["errors"]] for r in result["rejected"]}
    for i, (_, path) in enumerate(hostile, start=1):
        assert path.format(i=i) in faults[i], (i, faults[i])


@pytest.mark.parametrize("layout", ["one line", "a record per line"])
async def test_a_json_batch_rejects_only_the_records_the_hub_cannot_store(
    rabbit_hub: Hub, layout: str
) -> None:
    hub = rabbit_hub
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    # A lone surrogate makes a one-line body not JSON at all (a 400 for the whole body).
    hostile = [h for h in HOSTILE if "ud800" not in h[0]] if layout == "one line" else HOSTILE
    lines = [record(0), *(text for text, _ in hostile), record(11)]
    separator = "," if layout == "one line" else ",\n"
    reply = await hub.client.post(
        f"{BASE}/topics/{topic}/records",
        content="[" + separator.join(lines) + "]",
        headers={**agency_headers(hub, owner), "Content-Type": "application/json"},
    )
    assert reply.status_code == 200, reply.text
    check(reply.json(), hostile)
    held = (
        await hub.client.get(
            f"{BASE}/topics/{topic}/quarantine", headers=agency_headers(hub, owner)
        )
    ).json()["data"]
    assert [q["index"] for q in held] == list(range(1, len(hostile) + 1))
    # What was received is kept, as text PostgreSQL holds (NUL escaped).
    assert json.loads(held[1]["payload"])["data"]["name"] == "广州\u0000公司"


async def test_an_ndjson_batch_does_the_same_line_by_line(rabbit_hub: Hub) -> None:
    hub = rabbit_hub
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    lines = [record(0), *(text for text, _ in HOSTILE), record(11)]
    reply = await hub.client.post(
        f"{BASE}/topics/{topic}/records",
        content="\n".join(lines).encode(),
        headers={**agency_headers(hub, owner), "Content-Type": "application/x-ndjson"},
    )
    assert reply.status_code == 200, reply.text
    check(reply.json(), HOSTILE)


async def test_a_raw_nul_byte_in_an_ndjson_line_rejects_that_line(rabbit_hub: Hub) -> None:
    hub = rabbit_hub
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    body = (record(0) + "\n" + record(1).replace("广州", "广\x00州", 1) + "\n").encode()
    reply = await hub.client.post(
        f"{BASE}/topics/{topic}/records",
        content=body,
        headers={**agency_headers(hub, owner), "Content-Type": "application/x-ndjson"},
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["counts"] == {"accepted": 1, "duplicates": 0, "rejected": 1}
    assert result["rejected"][0]["errors"][0]["path"] == "$[1]"


async def test_a_batch_object_with_records_twice_is_refused(rabbit_hub: Hub) -> None:
    hub = rabbit_hub
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    reply = await hub.client.post(
        f"{BASE}/topics/{topic}/records",
        content='{"records": [' + record(0) + '], "records": [' + record(1) + "]}",
        headers={**agency_headers(hub, owner), "Content-Type": "application/json"},
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["errors"][0]["path"] == "$.records"
