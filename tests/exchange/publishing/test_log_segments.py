"""The log in segments (migration 0013, docs/exchange.md "The log's layout"): a log written
by the schema before it moves over without losing or changing a record, each record's JSON
reads as it did, and the heads judge what is published next; appends add segments as a
topic's log reaches them."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from alembic import command

import govhub_exchange
from govhub_common.db import asyncpg_dsn
from govhub_common.events import CloudEvent
from govhub_common.migrations import alembic_config, upgrade
from govhub_common.outbox import outbox_channel
from govhub_common.testing import Hub
from govhub_exchange.delivery.notify import RECORDS_CHANNEL
from govhub_exchange.publishing.append_batch import append_batch
from govhub_exchange.publishing.parsing import Incoming, canonical_content
from tests.exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    make_agency,
    make_topic,
    publish,
    subscribe,
)

MIGRATIONS = Path(govhub_exchange.__file__).parent / "migrations"

# Each record's JSON as a feed showed it before the migration (the stored envelope).
_FEED_JSON_0012 = (
    "SELECT topic_code, seq, '{\"seq\":' || seq || ',' || envelope || data::text || '}' "
    "FROM exchange.records ORDER BY topic_code, seq"
)
# The same, as a feed builds it now.
_FEED_JSON = (
    "SELECT topic_code, seq, '{\"seq\":' || seq || ',' || exchange.record_envelope(record_id, "
    "version, topic_version, business_time, published_at) || data::text || '}' "
    "FROM exchange.records ORDER BY topic_code, seq"
)
_COLUMNS = (
    "SELECT topic_code, seq, record_id, version, topic_version, business_time, published_at, "
    "publisher, data::text FROM exchange.records ORDER BY topic_code, seq"
)

# Each record's head as migration 0015 left them, and as 0016 keys them (by the topic's
# number, first_seq NULL while a record has one version).
_HEADS_0015 = (
    "SELECT topic_code, record_id, version, content_hash, first_seq, seq "
    "FROM exchange.record_heads ORDER BY topic_code, record_id"
)
_HEADS = (
    "SELECT t.code, h.record_id, h.version, h.content_hash, coalesce(h.first_seq, h.seq), h.seq "
    "FROM exchange.record_heads h JOIN exchange.topics t ON t.number = h.topic_number "
    "ORDER BY t.code, h.record_id"
)


def _envelope(record_id: str, version: int, business_time: datetime | None, at: datetime) -> str:
    head = orjson.dumps(
        {
            "record_id": record_id,
            "version": version,
            "topic_version": 1,
            "business_time": business_time,
            "published_at": at,
        }
    )
    return head[1:-1].decode() + ',"data":'


async def _append(
    raw: Any,
    topic: str,
    records: Sequence[tuple[str, int, datetime | None, str]],
    *,
    at: datetime,
    seen_head: int | None = None,
) -> int | None:
    """One batch through exchange.append_batch, as the service frames it, judged at
    `seen_head` (the topic's head by default)."""
    if seen_head is None:
        seen_head = await raw.fetchval(
            "SELECT head_seq FROM exchange.topics WHERE code = $1", topic
        )
    event = CloudEvent(
        source="govhub/exchange",
        type="exchange.record.published",
        subject=topic,
        routing_suffix=topic,
        data={"topic": topic, "records": "RECORDS"},
    )
    event_head, event_tail = event.to_json().decode().split('"RECORDS"')
    return await append_batch(
        raw,
        topic=topic,
        publisher="t-owner",
        batch_id=uuid.uuid4(),
        seen_head=seen_head,
        published_at=at,
        record_ids=[r[0] for r in records],
        versions=[r[1] for r in records],
        topic_versions=[1 for _ in records],
        hashes=[f"{r[0]}:{r[3]}".encode() for r in records],
        business_times=[r[2] for r in records],
        data=[r[3] for r in records],
        envelopes=[_envelope(r[0], r[1], r[2], at) for r in records],
        event_id=event.id,
        event_type=event.type,
        routing_key=event.routing_key,
        event_head=event_head + "[",
        event_tail="]" + event_tail,
        outbox_channel=outbox_channel("exchange"),
        records_channel=RECORDS_CHANNEL,
        dup_ids=[],
        dup_versions=[],
        q_index=[],
        q_line=[],
        q_record_id=[],
        q_payload=[],
        q_errors=[],
        arrived_at=at,
        delay_buckets=[],
        delay_records=[],
        undated=0,
        same_day=0,
        filled_items=[],
        filled_records=[],
        fault_items=[],
        fault_rules=[],
        fault_records=[],
    )


async def test_a_log_written_before_segments_moves_over_whole(fresh_db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, fresh_db_url, "exchange", "0012")
    raw = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    try:
        await raw.execute("INSERT INTO exchange.agencies (code, name) VALUES ('t-owner', '测试局')")
        topics = ["t_enterprises", "t_licences", "t_empty"]
        for code in topics:
            await raw.execute(
                "INSERT INTO exchange.topics (code, owner, title, sharing_type) "
                "VALUES ($1, 't-owner', '企业开业登记', 'unconditional')",
                code,
            )
        at = datetime(2026, 12, 4, 9, 30, 0, 120000, tzinfo=UTC)
        whole = datetime(2008, 3, 1, 1, 30, tzinfo=UTC)
        # Versions of one record in one batch and across batches, times with and without
        # microseconds, none, Chinese and escaped text in ids and data.
        for b in range(3):
            records = [
                (f"E{i}", b + 1, whole if i % 2 else None, f'{{"name": "企业{i}-{b}"}}')
                for i in range(40)
            ]
            assert await _append(raw, "t_enterprises", records, at=at + timedelta(seconds=b))
        assert await _append(
            raw,
            "t_licences",
            [
                ('L"1\\', 1, whole, '{"no": "粤1"}'),
                ('L"1\\', 2, whole, '{"no": "粤2"}'),
                ("L2", 1, None, '{"no": "\\u0001"}'),
            ],
            at=whole,
        )
        before_json = [tuple(r) for r in await raw.fetch(_FEED_JSON_0012)]
        before_columns = [tuple(r) for r in await raw.fetch(_COLUMNS)]
        assert len(before_columns) == 123

        await asyncio.to_thread(upgrade, MIGRATIONS, fresh_db_url, "exchange")

        # Every record, every column, and the JSON a feed shows, byte for byte.
        assert [tuple(r) for r in await raw.fetch(_COLUMNS)] == before_columns
        assert [tuple(r) for r in await raw.fetch(_FEED_JSON)] == before_json
        # A segment for each topic that had records, covering its head.
        segments = await raw.fetch(
            "SELECT s.topic_code, s.first_seq, s.end_seq, t.head_seq, t.segment_end "
            "FROM exchange.log_segments s JOIN exchange.topics t ON t.code = s.topic_code "
            "ORDER BY 1"
        )
        assert [s["topic_code"] for s in segments] == ["t_enterprises", "t_licences"]
        assert all(s["first_seq"] == 1 and s["end_seq"] > s["head_seq"] for s in segments)
        # Each record's head: its newest version, that version's hash and seqs.
        heads = {(h["code"], h["record_id"]): tuple(h)[2:] for h in await raw.fetch(_HEADS)}
        assert len(heads) == 42
        # (Their hashes' first 16 bytes: migration 0016.)
        assert heads[("t_licences", 'L"1\\')] == (2, 'L"1\\:{"no": "粤2"}'.encode()[:16], 1, 2)
        assert heads[("t_enterprises", "E7")] == (3, 'E7:{"name": "企业7-2"}'.encode()[:16], 8, 88)

        # Appends go on from the migrated head, judged against the heads: a batch judged
        # before one of its records was appended is sent back to be judged again.
        assert await _append(raw, "t_licences", [("L2", 2, None, '{"no": "2"}')], at=at) == 4
        judged_at = await raw.fetchval(
            "SELECT head_seq FROM exchange.topics WHERE code = 't_licences'"
        )
        assert await _append(raw, "t_licences", [("L3", 1, None, "{}")], at=at) == 5
        stale = [("L3", 1, None, '{"no": "3"}')]
        assert await _append(raw, "t_licences", stale, at=at, seen_head=judged_at) is None
        untouched = [("L4", 1, None, "{}")]
        assert await _append(raw, "t_licences", untouched, at=at, seen_head=judged_at) == 6

        # And back: the schema before segments gets every record and its JSON again.
        after_json = [tuple(r) for r in await raw.fetch(_FEED_JSON)]
        config = alembic_config(MIGRATIONS, fresh_db_url, "exchange")
        await asyncio.to_thread(command.downgrade, config, "0012")
        assert [tuple(r) for r in await raw.fetch(_FEED_JSON_0012)] == after_json
    finally:
        await raw.close()


async def test_appends_add_segments_as_the_log_reaches_them(hub: Hub) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    async with hub.runtime.db.autocommit() as raw:
        await raw.execute("UPDATE exchange.topics SET segment_records = 10 WHERE code = $1", topic)
    sub = await subscribe(hub, reader, topic, ["uscc", "name"])
    sent = [{"record_id": f"R{i}", "data": enterprise(i)} for i in range(25)]
    for b in range(0, 25, 7):
        await publish(hub, owner, topic, sent[b : b + 7])
    # Published again: every record a duplicate; changed, a new version.
    assert (await publish(hub, owner, topic, sent[:7]))["counts"]["duplicates"] == 7
    changed = [{"record_id": "R3", "data": enterprise(3, name="广州新名称有限公司")}]
    (accepted,) = (await publish(hub, owner, topic, changed))["accepted"]
    assert (accepted["seq"], accepted["version"]) == (26, 2)
    async with hub.runtime.db.autocommit() as raw:
        segments = await raw.fetch(
            "SELECT first_seq, end_seq FROM exchange.log_segments WHERE topic_code = $1 "
            "ORDER BY first_seq",
            topic,
        )
        stored = await raw.fetch(
            "SELECT tableoid::regclass::text AS segment, seq FROM exchange.records "
            "WHERE topic_code = $1 ORDER BY seq",
            topic,
        )
    assert [tuple(s) for s in segments] == [(1, 11), (11, 21), (21, 31)]
    assert [r["seq"] for r in stored] == list(range(1, 27))
    assert len({r["segment"] for r in stored}) == 3
    # The subscriber's feed reads across the segments, in order, from a cursor in any.
    url = f"{BASE}/subscriptions/{sub['id']}/records"
    headers = agency_headers(hub, reader)
    read: list[tuple[str, int]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4, "wait": 0}
        if cursor:
            params["cursor"] = cursor
        page = (await hub.client.get(url, params=params, headers=headers)).json()
        read += [(r["record_id"], r["version"]) for r in page["data"]]
        if not page["next"]:
            break
        cursor = page["next"]
    assert read == [(f"R{i}", 1) for i in range(25)] + [("R3", 2)]


async def test_heads_move_to_their_topics_numbers_and_back(fresh_db_url: str) -> None:
    """Migration 0016 keys the heads by the topic's number: every head stays its topic's,
    what is published next is judged against them, and the downgrade keys them by code."""
    await asyncio.to_thread(upgrade, MIGRATIONS, fresh_db_url, "exchange", "0015")
    raw = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    try:
        await raw.execute("INSERT INTO exchange.agencies (code, name) VALUES ('t-owner', '测试局')")
        for code in ["t_enterprises", "t_licences", "t_empty"]:
            await raw.execute(
                "INSERT INTO exchange.topics (code, owner, title, sharing_type) "
                "VALUES ($1, 't-owner', '企业开业登记', 'unconditional')",
                code,
            )
        at = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
        # The same record ids in two topics, versions in one batch and across batches.
        for b in range(2):
            records = [(f"R{i}", b + 1, None, f'{{"name": "企业{i}-{b}"}}') for i in range(30)]
            assert await _append(raw, "t_enterprises", records, at=at)
        licences = [("R1", 1, None, '{"no": "粤1"}'), ("R1", 2, None, '{"no": "粤2"}')]
        assert await _append(raw, "t_licences", licences, at=at)
        # A head as the code before 0016 wrote it: the whole SHA-256 of the content.
        sent = Incoming(index=0, line=None, record_id="R1", data={"no": "粤2"})
        full = hashlib.sha256(orjson.dumps([sent.data, None], option=orjson.OPT_SORT_KEYS))
        await raw.execute(
            "UPDATE exchange.record_heads SET content_hash = $1 "
            "WHERE topic_code = 't_licences' AND record_id = 'R1'",
            full.digest(),
        )
        before = [tuple(r) for r in await raw.fetch(_HEADS_0015)]
        assert len(before) == 31

        await asyncio.to_thread(upgrade, MIGRATIONS, fresh_db_url, "exchange")

        # Each head its topic's, its hash's first 16 bytes kept, its first seq only where
        # it has more than one version.
        assert [tuple(r) for r in await raw.fetch(_HEADS)] == [
            (*head[:3], head[3][:16], *head[4:]) for head in before
        ]
        assert await raw.fetchval(
            'SELECT array_agg(record_id ORDER BY record_id COLLATE "C") '
            "FROM exchange.record_heads WHERE first_seq IS NOT NULL"
        ) == sorted([f"R{i}" for i in range(30)] + ["R1"])
        # The same content published again is a duplicate: today's hash is what was kept.
        canonical_content(sent)
        assert sent.content_hash == await raw.fetchval(
            "SELECT content_hash FROM exchange.record_heads h JOIN exchange.topics t "
            "ON t.number = h.topic_number WHERE t.code = 't_licences' AND h.record_id = 'R1'"
        )
        numbers = await raw.fetch("SELECT code, number FROM exchange.topics")
        assert len({n["number"] for n in numbers}) == 3
        # A topic made after the migration takes a number of its own.
        fresh = await raw.fetchval(
            "INSERT INTO exchange.topics (code, owner, title, sharing_type) "
            "VALUES ('t_new', 't-owner', '新主题', 'unconditional') RETURNING number"
        )
        assert fresh not in {n["number"] for n in numbers}
        # The heads judge what comes next, each topic's its own: a version appended after
        # a batch was judged sends it back; one appended to another topic does not.
        assert await _append(raw, "t_licences", [("R1", 3, None, "{}")], at=at, seen_head=1) is None
        assert await _append(raw, "t_licences", [("L9", 1, None, "{}")], at=at) == 3
        assert (
            await _append(raw, "t_enterprises", [("L9", 1, None, "{}")], at=at, seen_head=0) == 61
        )
        assert await _append(raw, "t_licences", [("R1", 3, None, "{}")], at=at) == 4
        after = [tuple(r) for r in await raw.fetch(_HEADS)]
        assert ("t_licences", "R1", 3, b"R1:{}", 1, 4) in after
        assert ("t_enterprises", "R1", 2, 'R1:{"name": "企业1-1"}'.encode()[:16], 2, 32) in after
        assert ("t_enterprises", "L9", 1, b"L9:{}", 61, 61) in after

        config = alembic_config(MIGRATIONS, fresh_db_url, "exchange")
        await asyncio.to_thread(command.downgrade, config, "0015")
        assert [tuple(r) for r in await raw.fetch(_HEADS_0015)] == after
    finally:
        await raw.close()
