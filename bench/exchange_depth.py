"""The exchange log at depth (issue 21): does publishing, duplicate detection and reading a
feed cost the same with millions of records stored as with none, and what does a stored
record cost on disk?

    .venv/bin/python bench/exchange_depth.py [--depths 0,1000000,10000000] [--records 50000]

Starts the exchange alone (`govhub run --target exchange`, RabbitMQ as deployed) on a scratch
database, then for each depth: grows `exchange.records` to that many rows server-side
(INSERT ... SELECT of the demo's enterprise records over 269 filler topics, in segments as
a publish makes them, 1% of them in the measured topic's own history so that an old cursor
has something to read), moves every whole block of them into compressed blocks as log
maintenance does with records a day old (migration 0015; the old cursor then reads blocks,
the head the rows just published), VACUUM (ANALYZE), CHECKPOINT, and measures, through the
HTTP API:
- publish -> readable in three feeds, records/s (1,000-record batches, a fresh topic; the
  median of three rounds);
- the same batches published again, every record a duplicate, records/s;
- new records published into the measured topic itself, whose own history the growth adds
  to (1% of the rows: 500,000 records and heads at 50 M), by three publishers at once and
  without feeds, records/s accepted (the median of three rounds): what a topic's own size
  costs a publish (its heads, judged under its lock);
- feed reads of 1,000 records, p50 and p99 over 2,000 reads: from the head (the page just
  published) and from an old cursor (the measured topic's first records);
- bytes per stored record (its segment's table, TOAST and indexes, its block, and its
  head) against the JSON of its data.

Both sides start with the demo's 269 other topics, each with an empty first segment: a
read's plan depends on how many segments the log has (docs/exchange.md), so the depths
differ by the records stored alone. A second hub on a database of its own, whose log grows
by the measured records only (the control), is measured the same way at every depth, in
turn with the grown one (reads interleaved): the machine's own drift between depths (10-30%
within an hour on a two-core virtual machine) shows in the control, and each change is also
given against it.

It checks free disk first (at the bytes per record measured at depth 0) and says how far it
can go. Env as bench/exchange_publish.py (BENCH_DATABASE_URL, BENCH_AMQP_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import exchange_publish as ep

from govhub_exchange.archive.blocks import COMPRESS_SHARE
from govhub_exchange.delivery.service import READ_AND_ACKNOWLEDGE as READ_STATEMENT

FILLER_TOPICS = 269
CHUNK = 1_000_000  # rows per INSERT ... SELECT
# Enough reads that p99 is not one hiccup: of 50 it was the second slowest, and two runs
# differed by more at one depth than the depths did; of 500 (the 5th slowest) the
# control's own p99 still moved by 50% between depths (run 8).
READS = 2000
# The measured topic whose history the log's growth adds to (the old cursor's).
HISTORY = "depth_history"
# A publish of 50,000 records takes 3 s: one such figure moved by up to 30% on a machine
# that did nothing else, with nothing stored. The median of three, the sides in turn.
PUBLISH_ROUNDS = 3
PUBLISHED = ("publish", "duplicates", "deep")

# A filler row: the demo's enterprise record, as the hub stores it (migration 0013: the
# record in its topic's segment, its head beside it). Row g goes to the measured topic when
# g % 100 = 0, else, as the m-th of the other rows (m = g - 1 - (g - 1) / 100), to filler
# topic m % FILLER_TOPICS: every topic's seqs dense, as a log's are (blocks rely on it).
ROWS = """
SELECT CASE WHEN g % 100 = 0 THEN $3 ELSE 'fill_' || (m % $4) END AS topic_code,
    CASE WHEN g % 100 = 0 THEN $5 + g / 100 ELSE m / $4 + 1 END AS seq,
    'F' || g AS record_id, g
FROM generate_series($1::bigint, $2::bigint) g, LATERAL (SELECT g - 1 - (g - 1) / 100 AS m) q
"""
GROW = f"""
WITH rows AS ({ROWS}), heads AS (
    INSERT INTO exchange.record_heads (topic_number, record_id, version, content_hash,
        first_seq, seq)
    SELECT t.number, rows.record_id, 1, substring(sha256(g::text::bytea) FROM 1 FOR 16), NULL,
        rows.seq
    FROM rows JOIN exchange.topics t ON t.code = rows.topic_code
)
INSERT INTO exchange.records (topic_code, seq, record_id, version, topic_version,
    business_time, published_at, publisher, data)
SELECT topic_code, seq, record_id, 1, 1, timestamptz '2008-03-01 09:30+08', now(), 'b-amr',
    jsonb_build_object('uscc', '91440101MA59ABCD1D', 'name', '广州示例贸易有限公司' || g,
        'legal_rep_id', '11010519491231002X', 'legal_rep_name', '张三',
        'address', '广州市天河区体育西路' || (g % 999) || '号', 'district', '天河区',
        'industry', '批发业', 'registered_capital', 1000000 + g,
        'established_date', '2008-03-01', 'mobile', '+8613800138000')
FROM rows
"""
# The segments the chunk's rows need, made as a publish would make them.
SEGMENTS = f"""
SELECT coalesce(sum(exchange.add_segments(r.topic_code, r.upto)), 0)
FROM (SELECT topic_code, max(seq) AS upto FROM ({ROWS}) q GROUP BY topic_code) r
JOIN exchange.topics t ON t.code = r.topic_code WHERE r.upto >= t.segment_end
"""


async def add_filler_topics(db_url: str) -> None:
    """The 269 other topics, each with its first segment and no record: a city's topics
    exist before its log grows. The read's cost depends on how many segments the log has
    (with a few, PostgreSQL keeps one plan of it; with hundreds it plans each read anew, 0.3
    ms), so both sides have them from the start and the depths differ by records alone."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO exchange.topics (code, owner, title, sharing_type) "
            "SELECT 'fill_' || k, 'b-amr', '填充' || k, 'unconditional' "
            "FROM generate_series(0, $1::int - 1) k ON CONFLICT DO NOTHING",
            FILLER_TOPICS,
        )
        await conn.execute(
            "SELECT exchange.add_segments(code, 1) FROM exchange.topics "
            "WHERE code LIKE 'fill\\_%' AND segment_end = 1"
        )
    finally:
        await conn.close()


async def grow(db_url: str, topic: str, have: int, want: int) -> int:
    """Rows from `have` to `want`; returns the measured topic's new head."""
    conn = await asyncpg.connect(db_url)
    try:
        head = int(
            await conn.fetchval("SELECT head_seq FROM exchange.topics WHERE code = $1", topic)
        )
        for start in range(have + 1, want + 1, CHUNK):
            end = min(start + CHUNK - 1, want)
            started = time.perf_counter()
            # The measured topic's own rows (g % 100 = 0) take seqs after its head.
            args = (start, end, topic, FILLER_TOPICS, head - have // 100)
            async with conn.transaction():
                await conn.fetchval(SEGMENTS, *args)
                await conn.execute(GROW, *args)
            grown = time.perf_counter()
            # What log maintenance does to records a day old (migration 0015): into blocks,
            # every whole block of them; vacuumed (autovacuum's part), so that the next
            # chunk's rows reuse the space the moved ones left.
            moved = await compress_all(conn)
            await conn.execute("VACUUM exchange.records")
            print(
                f"  grew to {end:,} rows in {grown - started:.0f} s, "
                f"{moved:,} into blocks in {time.perf_counter() - grown:.0f} s",
                flush=True,
            )
        await conn.execute(
            "UPDATE exchange.topics t SET head_seq = h.head FROM (SELECT topic_number, max(seq) "
            "AS head FROM exchange.record_heads GROUP BY topic_number) h "
            "WHERE t.number = h.topic_number"
        )
        # Vacuumed as well as analysed: autovacuum's pass over millions of freshly inserted
        # rows would otherwise run during the measurements on a two-core machine.
        await conn.execute("VACUUM (ANALYZE) exchange.records")
        await conn.execute("VACUUM (ANALYZE) exchange.record_heads")
        await conn.execute("VACUUM (ANALYZE) exchange.record_blocks")
        # And written out: the checkpoint after gigabytes of new pages would otherwise
        # spread its writes over the measurements (commits wait on the same disk).
        await conn.execute("CHECKPOINT")
        return int(
            await conn.fetchval("SELECT head_seq FROM exchange.topics WHERE code = $1", topic)
        )
    finally:
        await conn.close()


async def compress_all(conn: asyncpg.Connection, *, partial_before: str = "-infinity") -> int:
    """Every topic's records into whole blocks, as log maintenance moves those a day old
    (archive/blocks.py, with the same function; a topic's last few, fewer than a block,
    stay rows as they would for six days more, unless published before `partial_before`);
    returns how many moved."""
    moved = 0
    for topic in await conn.fetch("SELECT code FROM exchange.topics"):
        while n := await conn.fetchval(
            "SELECT exchange.compress_records($1, 'infinity', $2::text::timestamptz, $3)",
            topic["code"],
            partial_before,
            COMPRESS_SHARE,
        ):
            moved += n
    return int(moved)


# What the log takes on disk: every segment (table, TOAST, indexes), the blocks and the
# heads.
_LOG_TABLES = (
    "SELECT inhrelid AS rel FROM pg_inherits WHERE inhparent = 'exchange.records'::regclass "
    "UNION ALL SELECT 'exchange.record_blocks'::regclass "
    "UNION ALL SELECT 'exchange.record_heads'::regclass"
)


# The same, by part: the segments' tables, the blocks, the heads (bytes with TOAST and
# indexes).
LOG_SIZES = """
SELECT coalesce(sum(pg_total_relation_size(rel)) FILTER (WHERE part = 'rows'), 0) AS rows,
    coalesce(sum(pg_total_relation_size(rel)) FILTER (WHERE part = 'blocks'), 0) AS blocks,
    coalesce(sum(pg_total_relation_size(rel)) FILTER (WHERE part = 'heads'), 0) AS heads
FROM (SELECT inhrelid AS rel, 'rows' AS part FROM pg_inherits
      WHERE inhparent = 'exchange.records'::regclass
      UNION ALL SELECT 'exchange.record_blocks'::regclass, 'blocks'
      UNION ALL SELECT 'exchange.record_heads'::regclass, 'heads') t
"""


async def disk(db_url: str) -> dict[str, float]:
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM exchange.records) + (SELECT "
            "coalesce(sum(cardinality(record_ids)), 0) FROM exchange.record_blocks) AS n, "
            f"sum(pg_total_relation_size(rel)) AS total, "
            "sum(pg_total_relation_size(rel) - pg_indexes_size(rel)) AS heap, "
            "sum(pg_indexes_size(rel)) AS indexes, "
            "(SELECT count(*) FROM pg_inherits WHERE inhparent = 'exchange.records'::regclass) "
            "AS segments, "
            "(SELECT avg(octet_length(data::text)) FROM exchange.log) AS json "
            f"FROM ({_LOG_TABLES}) t"
        )
        parts = await conn.fetchrow(LOG_SIZES)
        data_dir = await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
    n = max(int(row["n"]), 1)
    # The server is local (it is this machine's): its data directory's disk.
    free = shutil.disk_usage(data_dir).free if await asyncio.to_thread(Path(data_dir).exists) else 0
    return {
        "rows": n,
        "per_record": float(row["total"] or 0) / n,
        "heap": float(row["heap"] or 0) / n,
        "indexes": float(row["indexes"] or 0) / n,
        **{f"{part}_bytes": float(parts[part]) / n for part in ("rows", "blocks", "heads")},
        "segments": int(row["segments"]),
        "json": float(row["json"] or 0),
        "free": free,
    }


@dataclass
class Side:
    """One hub on its own database: the log being grown, or the control beside it, which
    has the same topics and segments and no records but the measured ones. Measured in turn at every depth, the control shows what the machine
    itself did meanwhile (a two-core virtual machine drifts by 10-30% within an hour,
    more than the depths differed), so each figure is also given against it."""

    name: str
    hub: ep.Hub
    db_url: str
    amr: dict[str, str]
    subscribers: list[dict[str, str]]
    # Each agency's token headers and credentials: tokens do not outlive the log's growth.
    clients: list[tuple[dict[str, str], str, str]]
    old_reader: tuple[dict[str, str], int]

    async def renew_tokens(self) -> None:
        for headers, client_id, secret in self.clients:
            headers.update(await self.hub.token(client_id, secret))


async def _agency(
    hub: ep.Hub,
    op: dict[str, str],
    clients: list[tuple[dict[str, str], str, str]],
    code: str,
    name: str,
    scopes: list[str],
) -> dict[str, str]:
    """An agency with a client of these scopes: its token's headers, its credentials kept
    in `clients` to renew them."""
    await hub.call("POST", "/agencies", op, json={"code": code, "name": name})
    client = await hub.call("POST", f"/agencies/{code}/clients", op, json={"scopes": scopes})
    headers = await hub.token(client["client_id"], client["client_secret"])
    clients.append((headers, client["client_id"], client["client_secret"]))
    return headers


async def set_up(name: str, hub: ep.Hub, db_url: str, home: Path) -> Side:
    """The agencies, and the topic whose history the log's growth adds to (the old
    cursor's), with its first 1,000 records and the old cursor's subscription."""
    op = await hub.token("operator", (home / "operator-secret").read_text().strip())
    clients: list[tuple[dict[str, str], str, str]] = []
    amr = await _agency(
        hub, op, clients, "b-amr", "广州市工商行政管理局",
        ["exchange:publish", "exchange:catalog"],
    )  # fmt: skip
    subscribers = [
        await _agency(hub, op, clients, code, title, ["exchange:subscribe"])
        for code, title in (("b-qts", "质监"), ("b-ltax", "地税"), ("b-ntax", "国税"))
    ]
    await hub.call(
        "POST",
        "/topics",
        amr,
        json={
            "code": HISTORY,
            "title": "历史",
            "sharing_type": "unconditional",
            "schema": ep.SCHEMA,
        },
    )
    body = orjson.dumps([ep.record(i) for i in range(1000)])
    await hub.client.post(
        f"{hub.base}/exchange/v1/topics/{HISTORY}/records",
        content=body,
        headers={**amr, "content-type": "application/json"},
    )
    old = await hub.call(
        "POST",
        "/subscriptions",
        subscribers[0],
        json={"topic": HISTORY, "purpose": "old cursor", "items": ep.GRANTS[0]},
    )
    await add_filler_topics(db_url)
    return Side(name, hub, db_url, amr, subscribers, clients, (subscribers[0], int(old["id"])))


async def publish(side: Side, topic: str, records: int) -> tuple[dict[str, float], HeadReader]:
    """Publish -> three feeds and the same batches again as duplicates, records/s, in a
    fresh topic; returns them with a reader whose cursor is 1,000 records before its head."""
    hub, amr = side.hub, side.amr
    await hub.call(
        "POST",
        "/topics",
        amr,
        json={
            "code": topic,
            "title": "企业开业登记",
            "sharing_type": "unconditional",
            "schema": ep.SCHEMA,
        },
    )
    readers: list[ep.Reader] = []
    for headers, items in zip(side.subscribers, ep.GRANTS, strict=True):
        sub = await hub.call(
            "POST",
            "/subscriptions",
            headers,
            json={"topic": topic, "purpose": "bench", "items": items},
        )
        readers.append((headers, sub["id"], set(items)))
    rate = await ep.throughput(hub, amr, readers, topic, records)
    started = time.perf_counter()
    for b in range(0, records, 1000):
        body = orjson.dumps([ep.record(i) for i in range(b, b + 1000)])
        r = await hub.client.post(
            f"{hub.base}/exchange/v1/topics/{topic}/records",
            content=body,
            headers={**amr, "content-type": "application/json"},
        )
        assert orjson.loads(r.content)["counts"]["duplicates"] == 1000, r.text[:300]
    duplicates = records / (time.perf_counter() - started)
    # From the head: a fresh subscription's cursor after all but the last 1,000 records.
    headers, _, granted = readers[0]
    sub = await hub.call(
        "POST",
        "/subscriptions",
        headers,
        json={"topic": topic, "purpose": "head", "items": sorted(granted)},
    )
    cursor = None
    read = 0
    while read < records - 1000:
        params: dict[str, Any] = {"limit": min(1000, records - 1000 - read), "wait": 0}
        if cursor:
            params["cursor"] = cursor
        page = await hub.call("GET", f"/subscriptions/{sub['id']}/records", headers, params=params)
        read += len(page["data"])
        cursor = page["position"]
    return {"publish": rate, "duplicates": duplicates}, (headers, int(sub["id"]), cursor)


HeadReader = tuple[dict[str, str], int, str | None]  # token headers, subscription, cursor


async def publish_deep(side: Side, tag: str, records: int) -> float:
    """New records (ids prefixed by `tag`) into the measured topic, by three publishers at
    once, records/s accepted: concurrent batches of one topic are judged against its heads
    and checked again under its lock."""
    batches = []
    for b in range(0, records, 1000):
        batch = [ep.record(i) for i in range(b, b + 1000)]
        for record in batch:
            record["record_id"] = f"{tag}-{record['record_id']}"
        batches.append(orjson.dumps(batch))
    batches.reverse()

    async def publisher() -> None:
        while batches:
            body = batches.pop()
            r = await side.hub.client.post(
                f"{side.hub.base}/exchange/v1/topics/{HISTORY}/records",
                content=body,
                headers={**side.amr, "content-type": "application/json"},
            )
            assert r.status_code == 200, r.text[:300]
            assert orjson.loads(r.content)["counts"]["accepted"] == 1000, r.text[:300]

    started = time.perf_counter()
    await asyncio.gather(*(publisher() for _ in range(3)))
    return records / (time.perf_counter() - started)


def _percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1]


async def read_times(sides: list[tuple[Side, HeadReader]]) -> list[dict[str, float]]:
    """p50 and p99 of READS feed reads of one 1,000-record page, from the head and from the
    old cursor, through the HTTP API: the sides' reads in turn, so that both see the same
    machine."""
    times: list[dict[str, list[float]]] = [{"head": [], "old": []} for _ in sides]
    for i in range(READS):
        turn = list(enumerate(sides))
        for k, (side, (headers, sub_id, cursor)) in turn[i % 2 :] + turn[: i % 2]:
            for kind, who, sub, at in (
                ("head", headers, sub_id, cursor),
                ("old", side.old_reader[0], side.old_reader[1], None),
            ):
                params: dict[str, Any] = {"limit": 1000, "wait": 0}
                if at is not None:
                    params["cursor"] = at
                started = time.perf_counter()
                page = await side.hub.call(
                    "GET", f"/subscriptions/{sub}/records", who, params=params
                )
                times[k][kind].append(time.perf_counter() - started)
                assert len(page["data"]) == 1000, len(page["data"])
    figures = []
    for t in times:
        head, old = _percentiles(t["head"]), _percentiles(t["old"])
        figures.append(
            {"head_p50": head[0], "head_p99": head[1], "old_p50": old[0], "old_p99": old[1]}
        )
    return figures


async def statement_times(
    sides: list[tuple[Side, HeadReader]], records: int
) -> list[dict[str, float]]:
    """p50 and p99 of READS runs of the feed's read statement itself (delivery/service.py),
    straight on PostgreSQL as an operator's read (it moves nothing), head and old cursor,
    the sides in turn: the log's own cost of a page, without HTTP, tokens and the hub
    process's share of the two cores. Prints each one's plan timing and shared buffers
    (`hit` from PostgreSQL's cache, `read` from the operating system's)."""
    conns: list[asyncpg.Connection] = []
    runs: list[tuple[int, str, str, asyncpg.Connection, tuple[Any, ...], list[float]]] = []
    try:
        for k, (side, (_, head_sub, _)) in enumerate(sides):
            conn = await asyncpg.connect(side.db_url)
            conns.append(conn)
            for kind, sub_id, after in (
                ("head", head_sub, records - 1000),
                ("old", side.old_reader[1], 0),
            ):
                sub = await conn.fetchrow(
                    "SELECT topic_code, items, ARRAY(SELECT name FROM exchange.data_items d "
                    "WHERE d.topic_code = s.topic_code) AS declared "
                    "FROM exchange.subscriptions s WHERE id = $1",
                    sub_id,
                )
                args = (sub["topic_code"], after, sub["items"], 1000, sub_id, False)
                runs.append((k, side.name, kind, conn, (*args, sub["declared"]), []))
        for i in range(READS):
            for _, _, _, conn, args, times in runs[i % 2 :] + runs[: i % 2]:
                started = time.perf_counter()
                row = await conn.fetchrow(READ_STATEMENT, *args)
                times.append(time.perf_counter() - started)
                assert row["count"] == 1000, row["count"]
        figures: list[dict[str, float]] = [{} for _ in sides]
        for k, name, kind, conn, args, times in runs:
            plan = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS, SUMMARY) " + READ_STATEMENT.replace("$1", "$1::text"),
                *args,
            )
            lines = [r[0].strip() for r in plan]
            buffers = next((x for x in lines if x.startswith("Buffers:")), "")
            print(f"    {name} {kind}: {[x for x in lines if 'Time:' in x]} {buffers}")
            p50, p99 = _percentiles(times)
            figures[k].update({f"sql_{kind}_p50": p50, f"sql_{kind}_p99": p99})
        return figures
    finally:
        for conn in conns:
            await conn.close()


async def measure(sides: list[Side], depth: int, records: int, turn: int) -> list[dict[str, float]]:
    """Every figure of one depth for each side: PUBLISH_ROUNDS rounds of publishing, each in
    a fresh topic, the sides in turn (the one that went first goes second next), the median
    taken; then the reads interleaved, in the last round's topic."""
    order = sides if turn % 2 == 0 else sides[::-1]
    rounds: dict[str, list[tuple[dict[str, float], HeadReader]]] = {s.name: [] for s in sides}
    for r in range(PUBLISH_ROUNDS):
        for side in order if r % 2 == 0 else order[::-1]:
            await side.renew_tokens()
            figures, reader = await publish(side, f"depth_{depth}_{r}", records)
            figures["deep"] = await publish_deep(side, f"D{depth}-{r}", records)
            rounds[side.name].append((figures, reader))
    pairs = [(side, rounds[side.name][-1][1]) for side in sides]
    reads = await read_times(pairs)
    statements = await statement_times(pairs, records)
    return [
        {
            **{n: statistics.median(f[n] for f, _ in rounds[side.name]) for n in PUBLISHED},
            **reads[k],
            **statements[k],
        }
        for k, side in enumerate(sides)
    ]


def _table(title: str, rows: list[tuple[dict[str, float], dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"{'rows stored':>12} {'publish/s':>10} {'dups/s':>8} {'deep/s':>8} {'head p50/p99':>14} "
          f"{'old p50/p99':>13} {'B/record':>9} {'(heap':>7} {'index)':>7} {'JSON B':>7} "
          f"{'segments':>8} {'SQL head':>11} {'SQL old':>11} {'rows/blocks/heads B':>20}")  # fmt: skip
    for f, d in rows:
        print(
            f"{d['rows']:>12,} {f['publish']:>10,.0f} {f['duplicates']:>8,.0f} {f['deep']:>8,.0f} "
            f"{f['head_p50'] * 1000:>6.1f}/{f['head_p99'] * 1000:>4.1f}ms "
            f"{f['old_p50'] * 1000:>5.1f}/{f['old_p99'] * 1000:>4.1f}ms "
            f"{d['per_record']:>9,.0f} {d['heap']:>7,.0f} {d['indexes']:>7,.0f} {d['json']:>7,.0f} "
            f"{d['segments']:>8,} "
            f"{f['sql_head_p50'] * 1000:>5.1f}/{f['sql_head_p99'] * 1000:>4.1f}ms "
            f"{f['sql_old_p50'] * 1000:>5.1f}/{f['sql_old_p99'] * 1000:>4.1f}ms "
            f"{d['rows_bytes']:>8,.0f}/{d['blocks_bytes']:,.0f}/{d['heads_bytes']:,.0f}"
        )


def _changes(label: str, change: dict[str, float]) -> None:
    print(f"{label}: " + ", ".join(f"{k} {v:+.0f}%" for k, v in change.items()))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depths", default="0,1000000,10000000")
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    admin = await asyncpg.connect(ep.ADMIN_URL)
    names = [f"govhub_bench_{side}_{uuid.uuid4().hex[:8]}" for side in ("depth", "control")]
    processes = []
    results: list[tuple[int, list[dict[str, float]], dict[str, float], dict[str, float]]] = []
    try:
        async with httpx.AsyncClient(
            timeout=120, limits=httpx.Limits(max_connections=20)
        ) as client:
            sides = []
            for name, side in zip(names, ("depth", "control"), strict=True):
                await admin.execute(f'CREATE DATABASE "{name}"')
                db_url = ep.ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
                home = Path(tempfile.mkdtemp(prefix=f"govhub-bench-{side}-"))
                processes.append(await ep.start_hub(db_url, home, port := ep.free_port(), 1))
                hub = ep.Hub(f"http://127.0.0.1:{port}", client)
                sides.append(await set_up(side, hub, db_url, home))
            grown = sides[0]
            have = 0
            for turn, depth in enumerate(depths):
                if depth > have:
                    measured = await disk(grown.db_url)
                    # A quarter more than measured: indexes deepen, and WAL needs room.
                    per_record = measured["per_record"] * 1.25
                    need = (depth - have) * per_record
                    if measured["free"] and need > measured["free"] * 0.8:
                        reach = have + int(measured["free"] * 0.8 / per_record)
                        print(f"depth {depth:,}: needs about {need / 1e9:.0f} GB, "
                              f"{measured['free'] / 1e9:.0f} GB free: this machine reaches "
                              f"about {reach:,} rows; stopping")  # fmt: skip
                        break
                    print(f"growing the log to {depth:,} rows", flush=True)
                    await grow(grown.db_url, HISTORY, have, depth)
                    have = depth
                figures = await measure(sides, depth, args.records, turn)
                results.append(
                    (depth, figures, await disk(grown.db_url), await disk(sides[1].db_url))
                )
                print(f"depth {depth:,}: {figures[0]}\n  control: {figures[1]}", flush=True)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            await process.wait()
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    _table("the grown log", [(f[0], d) for _, f, d, _ in results])
    _table(
        "the control (the same topics, no records but the measured ones)",
        [(f[1], c) for _, f, _, c in results],
    )
    if results:
        base = results[0][1]
        for depth, f, _, _ in results[1:]:
            _changes(
                f"at {depth:,} against {results[0][0]:,}",
                {k: (f[0][k] / base[0][k] - 1) * 100 for k in base[0]},
            )
            # The machine's drift taken out: each side's figure against the control's at
            # the same depth, then that ratio against the same ratio at the first depth.
            _changes(
                "  and against the control",
                {k: ((f[0][k] / f[1][k]) / (base[0][k] / base[1][k]) - 1) * 100 for k in base[0]},
            )


if __name__ == "__main__":
    asyncio.run(main())
