"""Retention and archive (docs/exchange.md, "Retention and archive"): a topic's retention
in the catalog; segments past it written to a compressed file with a manifest and the
signed audit checkpoint covering them, and dropped; a cursor before the live log told where
they went; the segments imported back and read again byte for byte; the audit chain
verifying throughout."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from govhub_common.pagination import encode_cursor
from govhub_common.testing import Hub, wait_for
from govhub_exchange.archive.files import manifest_path
from govhub_exchange.audit.chain import checkpoint_file_name
from tests.exchange.support import (
    BASE,
    ENTERPRISE_SCHEMA,
    agency_headers,
    checkpoints,
    enterprise,
    maintain_log,
    make_agency,
    make_topic,
    publish,
    subscribe,
    topic_gauge,
    unique,
)

RETENTION = {"days": 30, "legal_basis": "《企业信息公示暂行条例》第八条"}


async def _read_all(hub: Hub, sub_id: int, headers: dict[str, str], cursor: str) -> list[bytes]:
    """Each page's body, from the cursor to the head, 4 records a page."""
    bodies = []
    while cursor:
        reply = await hub.client.get(
            f"{BASE}/subscriptions/{sub_id}/records",
            params={"cursor": cursor, "limit": 4, "wait": 0},
            headers=headers,
        )
        assert reply.status_code == 200, reply.text
        bodies.append(reply.content)
        cursor = reply.json()["next"]
    return bodies


async def _run(db_url: str, archive_dir: Path, *args: str) -> tuple[int, bytes, str]:
    """`govhub <args>` run as a command against the hub's database: exit code, output,
    errors."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "govhub_common.cli", *args,
        env={**os.environ, "GOVHUB_DATABASE_URL": db_url, "GOVHUB_ARCHIVE_DIR": str(archive_dir)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out, err.decode()


async def _command(db_url: str, archive_dir: Path, *args: str) -> Any:
    """`govhub <args>` that succeeds; its JSON output."""
    code, out, err = await _run(db_url, archive_dir, *args)
    assert code == 0, err[-2000:]
    return orjson.loads(out)


async def test_the_log_commands_refuse_what_they_cannot_do(
    hub: Hub, db_url: str, tmp_path: Path
) -> None:
    """A topic the catalog lacks, or a seq no log can hold: exit 2 and a sentence saying so,
    nothing done."""
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner, retention=RETENTION)
    for args, says in (
        (("import", "no_such_topic", "--from-seq", "1"), "no topic 'no_such_topic'"),
        (("segments", "no_such_topic"), "no topic 'no_such_topic'"),
        (("import", topic, "--from-seq", str(2**63)), "--from-seq"),
        (("import", topic, "--from-seq", "0"), "--from-seq"),
    ):
        code, out, err = await _run(db_url, tmp_path, "exchange", "log", *args)
        assert code == 2, (args, out, err)
        assert says in err, (args, err)
        assert "Traceback" not in err
    # A topic whose records are all live: nothing to bring back, said as an empty list.
    assert (
        await _command(db_url, tmp_path, "exchange", "log", "import", topic, "--from-seq", "1")
        == []
    )


async def test_a_segment_past_retention_is_archived_and_comes_back(
    hub: Hub, db_url: str, tmp_path: Path
) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner, retention=RETENTION)
    shown = await hub.client.get(f"{BASE}/topics/{topic}", headers=agency_headers(hub, owner))
    assert shown.json()["retention"] == RETENTION
    async with hub.runtime.db.autocommit() as raw:
        await raw.execute("UPDATE exchange.topics SET segment_records = 10 WHERE code = $1", topic)
    sub = await subscribe(hub, reader, topic, ["uscc", "name"])
    headers = agency_headers(hub, reader)
    for b in range(0, 25, 5):
        await publish(
            hub,
            owner,
            topic,
            [{"record_id": f"R{i}", "data": enterprise(i)} for i in range(b, b + 5)],
        )
    before = await _read_all(hub, sub["id"], headers, encode_cursor(0))

    # Within the retention nothing leaves; past it, the two full segments do.
    assert (await maintain_log(hub, tmp_path, days_ahead=29)).archived == []
    done = await maintain_log(hub, tmp_path, days_ahead=31)
    assert [(a["topic"], a["first_seq"], a["last_seq"], a["records"]) for a in done.archived] == [
        (topic, 1, 10, 10),
        (topic, 11, 20, 10),
    ]
    for entry in done.archived:
        path = tmp_path / entry["file"]
        lines = gzip.decompress(path.read_bytes()).splitlines()
        assert [orjson.loads(line)["seq"] for line in lines] == list(
            range(entry["first_seq"], entry["last_seq"] + 1)
        )
        assert orjson.loads(lines[0])["publisher"] == owner
        manifest = orjson.loads(manifest_path(path).read_bytes())
        assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert (manifest["topic"], manifest["records"]) == (topic, 10)
        assert manifest["retention"] == RETENTION
        # The signed head covers the records' publish entries.
        assert manifest["audit"]["publish_entries"]["count"] == 2
        checkpoint = manifest["audit"]["checkpoint"]
        assert checkpoint["entry_id"] >= manifest["audit"]["publish_entries"]["last"]
        assert (checkpoints(hub) / checkpoint_file_name(checkpoint["entry_id"])).exists()
    async with hub.runtime.db.autocommit() as raw:
        partitions = await raw.fetchval(
            "SELECT count(to_regclass(format('exchange.records_%s', id))) "
            "FROM exchange.log_segments WHERE topic_code = $1",
            topic,
        )
    assert partitions == 1  # the open segment; the others' tables are gone
    # The hub's services are told, in the drop's transaction, what left the live log.
    async with hub.runtime.db.autocommit() as raw:
        told = await raw.fetch(
            "SELECT payload::text AS payload FROM exchange.outbox "
            "WHERE type = 'exchange.log.archived' AND payload::jsonb ->> 'subject' = $1 "
            "ORDER BY id",
            f"topic/{topic}",
        )
    segments = [s for row in told for s in orjson.loads(row["payload"])["data"]["segments"]]
    assert [(s["first_seq"], s["last_seq"], s["live_from"], s["records"]) for s in segments] == [
        (1, 10, 11, 10),
        (11, 20, 21, 10),
    ]
    assert [s["file"] for s in segments] == [a["file"] for a in done.archived]
    assert segments[0]["retention"] == RETENTION
    topic_now = (
        await hub.client.get(f"{BASE}/topics/{topic}", headers=agency_headers(hub, owner))
    ).json()
    assert (topic_now["head_seq"], topic_now["log_start_seq"]) == (25, 21)

    # A cursor before the live log: told where the records went and where to read on.
    gone = await hub.client.get(
        f"{BASE}/subscriptions/{sub['id']}/records",
        params={"cursor": encode_cursor(5), "wait": 0},
        headers=headers,
    )
    assert gone.status_code == 410, gone.text
    problem: dict[str, Any] = gone.json()
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert (problem["code"], problem["title"]) == ("records_archived", "Gone")
    assert problem["live_from"] == encode_cursor(20)
    assert [a["file"] for a in problem["archives"]] == [a["file"] for a in done.archived]
    assert f"govhub exchange log import {topic} --from-seq 6" in problem["detail"]
    # Without a cursor a feed starts at the live log.
    fresh = await hub.client.get(
        f"{BASE}/subscriptions/{sub['id']}/records", params={"wait": 0}, headers=headers
    )
    assert [r["seq"] for r in fresh.json()["data"]] == [21, 22, 23, 24, 25]

    # Brought back: the same pages, byte for byte.
    # As an operator does it: the command, on the archive folder.
    imported = await _command(
        db_url, tmp_path, "exchange", "log", "import", topic, "--from-seq", "6"
    )
    assert [(i["first_seq"], i["records"]) for i in imported] == [(11, 10), (1, 10)]
    assert await _read_all(hub, sub["id"], headers, encode_cursor(0)) == before

    # The chain still verifies, and it says what happened.
    verified = (await hub.client.get(f"{BASE}/audit/verify", headers=hub.operator())).json()
    assert verified["valid"] is True, verified
    entries = (
        await hub.client.get(
            f"{BASE}/audit", params={"topic": topic, "limit": 100}, headers=hub.operator()
        )
    ).json()["data"]
    actions = [e["action"] for e in entries]
    assert actions.count("log.archived") == 2 and actions.count("log.imported") == 2


async def test_a_retention_names_its_legal_basis(hub: Hub) -> None:
    owner = await make_agency(hub)
    body = {
        "code": unique("t_"),
        "title": "企业开业登记",
        "sharing_type": "unconditional",
        "schema": ENTERPRISE_SCHEMA,
        "retention": {"days": 30},
    }
    refused = await hub.client.post(f"{BASE}/topics", json=body, headers=agency_headers(hub, owner))
    assert refused.status_code == 422
    assert [e["path"] for e in refused.json()["errors"]] == ["$.retention.legal_basis"]
    body["retention"] = RETENTION
    created = await hub.client.post(f"{BASE}/topics", json=body, headers=agency_headers(hub, owner))
    assert created.status_code == 201, created.text
    cleared = await hub.client.patch(
        f"{BASE}/topics/{body['code']}",
        json={"retention": None},
        headers=agency_headers(hub, owner),
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["retention"] is None


async def test_an_open_segment_a_month_old_is_closed_then_archived(
    hub: Hub, tmp_path: Path
) -> None:
    owner = await make_agency(hub)
    kept_for_ever = await make_topic(hub, owner)
    topic = await make_topic(hub, owner, retention=RETENTION)
    for code in (kept_for_ever, topic):
        await publish(
            hub, owner, code, [{"record_id": f"R{i}", "data": enterprise(i)} for i in range(3)]
        )
    done = await maintain_log(hub, tmp_path, days_ahead=40, max_age_days=30)
    # Only a topic with a retention gets more segments.
    assert topic in done.closed and kept_for_ever not in done.closed
    assert [(a["first_seq"], a["last_seq"]) for a in done.archived if a["topic"] == topic] == [
        (1, 3)
    ]
    # The next record starts a new segment after the archived one.
    (accepted,) = (await publish(hub, owner, topic, [{"record_id": "R9", "data": enterprise(9)}]))[
        "accepted"
    ]
    assert accepted["seq"] == 4
    async with hub.runtime.db.autocommit() as raw:
        segments = await raw.fetch(
            "SELECT first_seq, end_seq, archived_at IS NOT NULL AS archived "
            "FROM exchange.log_segments WHERE topic_code = $1 ORDER BY first_seq",
            topic,
        )
    assert [tuple(s) for s in segments] == [(1, 4, True), (4, 1_000_004, False)]


async def test_records_kept_past_their_retention_show_in_a_gauge_until_archived(
    hub: Hub, tmp_path: Path
) -> None:
    """govhub_exchange_log_retention_overdue_seconds (the GovhubLogRetentionOverdue alert):
    0 while every record is within its retention plus the segments' maximum age, how far
    past it the oldest live record is otherwise, and back to 0 once it is archived."""
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner, retention=RETENTION)
    kept_for_ever = await make_topic(hub, owner)
    for code in (topic, kept_for_ever):
        await publish(
            hub, owner, code, [{"record_id": f"R{i}", "data": enterprise(i)} for i in range(3)]
        )

    async def overdue(code: str) -> float | None:
        return await topic_gauge(hub, "govhub_exchange_log_retention_overdue_seconds", code)

    async def within() -> bool:
        return await overdue(topic) == 0.0

    async def past() -> float | None:
        seconds = await overdue(topic)
        return seconds if seconds else None

    await wait_for(within, timeout=10)
    assert await overdue(kept_for_ever) is None  # no retention: no series
    # Published 62 days ago: 30 days of retention and 30 of the segments' maximum age
    # (the hub's default) leave it 2 days overdue.
    async with hub.runtime.db.autocommit() as raw:
        await raw.execute(
            "UPDATE exchange.records SET published_at = now() - interval '62 days' "
            "WHERE topic_code = $1",
            topic,
        )
    late = await wait_for(past, timeout=10)
    assert 1.9 * 86_400 < late < 2.1 * 86_400

    done = await maintain_log(hub, tmp_path, days_ahead=0, max_age_days=30)
    assert [(a["first_seq"], a["last_seq"]) for a in done.archived if a["topic"] == topic] == [
        (1, 3)
    ]
    await wait_for(within, timeout=10)
