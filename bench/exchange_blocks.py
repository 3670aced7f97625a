"""What a stored record costs on disk with the simulated city's own records, as rows and
once log maintenance has moved them into compressed blocks (migration 0015): the depth
bench's filler repeats one enterprise record, which compresses better than a city's
varied names, IDs and addresses do.

    .venv/bin/python bench/exchange_blocks.py [--scale 1.0]

Simulates the full-scale year (`govhub demo`'s city: about 191,000 valid records over its
topics), stores every record in its topic's log as a publish would (its segment, its
head), then measures the log (its segments' tables, TOAST and indexes, the blocks, the
heads) per record against its JSON, before and after the hub's own function moves every
record into blocks (whole ones, then each topic's last few, as six days later). A scratch
database; BENCH_DATABASE_URL as the other benches.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
from exchange_depth import LOG_SIZES, compress_all

import govhub_exchange
from govhub_common.db import asyncpg_dsn
from govhub_common.migrations import upgrade_async
from govhub_common.testing import create_test_database, drop_test_database
from govhub_demo.city import simulate

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MIGRATIONS = Path(govhub_exchange.__file__).parent / "migrations"
OWNER = "b-bench"


async def store_city(conn: asyncpg.Connection, scale: float) -> int:
    """Every valid record of the city's year in its topic's log, each topic's seqs dense
    and each record's versions numbered, published on the day it happened."""
    city = simulate(seed=2008, scale=scale, days=365)
    rows: list[tuple[object, ...]] = []
    heads: dict[tuple[str, str], tuple[int, bytes, int, int]] = {}
    seqs: dict[str, int] = defaultdict(int)
    for day_index in sorted(city.published):
        published_at = datetime.combine(
            city.start + timedelta(days=day_index), datetime.min.time(), UTC
        ) + timedelta(hours=10)
        for record in city.published[day_index]:
            if record.invalid:
                continue
            seqs[record.topic] += 1
            seq = seqs[record.topic]
            key = (record.topic, record.record_id)
            version = heads[key][0] + 1 if key in heads else 1
            data = orjson.dumps(record.data).decode()
            digest = hashlib.sha256(data.encode()).digest()[:16]
            heads[key] = (version, digest, heads[key][2] if key in heads else seq, seq)
            business = (
                datetime.combine(record.business_date, datetime.min.time(), UTC)
                if record.business_date
                else None
            )
            rows.append(
                (record.topic, seq, record.record_id, version, 1, business, published_at,
                 OWNER, data)
            )  # fmt: skip
    await conn.execute(
        "INSERT INTO exchange.agencies (code, name) VALUES ($1, '基准测试局')", OWNER
    )
    await conn.executemany(
        "INSERT INTO exchange.topics (code, owner, title, sharing_type, head_seq) "
        "VALUES ($1, $2, $1, 'unconditional', $3)",
        [(topic, OWNER, head) for topic, head in seqs.items()],
    )
    await conn.execute("SELECT exchange.add_segments(code, head_seq) FROM exchange.topics")
    numbers = dict(await conn.fetch("SELECT code, number FROM exchange.topics"))
    await conn.copy_records_to_table(
        "records",
        schema_name="exchange",
        records=rows,
        columns=["topic_code", "seq", "record_id", "version", "topic_version",
                 "business_time", "published_at", "publisher", "data"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "record_heads",
        schema_name="exchange",
        # first_seq NULL while a record has one version, as append_batch writes it.
        records=[
            (numbers[t], r, v, h, f if f != s else None, s)
            for (t, r), (v, h, f, s) in heads.items()
        ],
        columns=["topic_number", "record_id", "version", "content_hash", "first_seq", "seq"],
    )
    return len(rows)


async def measure(conn: asyncpg.Connection, records: int, label: str) -> None:
    await conn.execute("VACUUM (ANALYZE) exchange.records")
    await conn.execute("VACUUM (ANALYZE) exchange.record_blocks")
    sizes = await conn.fetchrow(LOG_SIZES)
    json = await conn.fetchval("SELECT avg(octet_length(data::text)) FROM exchange.log")
    total = float(sizes["rows"] + sizes["blocks"] + sizes["heads"])
    print(
        f"{label}: {total / records:,.0f} bytes a record ({total / records / float(json):.2f} "
        f"times its {float(json):,.0f} bytes of JSON): rows {float(sizes['rows']) / records:,.0f}, "
        f"blocks {float(sizes['blocks']) / records:,.0f}, heads {float(sizes['heads']) / records:,.0f}",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    url = await create_test_database(ADMIN_URL, prefix="govhub_bench_blocks")
    try:
        await upgrade_async(MIGRATIONS, url, "exchange")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            started = time.perf_counter()
            records = await store_city(conn, args.scale)
            topics = await conn.fetchval("SELECT count(*) FROM exchange.topics")
            print(f"{records:,} records of {topics} topics stored in "
                  f"{time.perf_counter() - started:.0f} s")  # fmt: skip
            # The rows' tables hold nothing else: a fresh log's cost as rows.
            await measure(conn, records, "as rows")
            started = time.perf_counter()
            moved = await compress_all(conn, partial_before="infinity")
            print(f"{moved:,} moved into blocks in {time.perf_counter() - started:.1f} s")
            blocks = await conn.fetchrow(
                "SELECT count(*) AS n, avg(cardinality(record_ids)) AS size "
                "FROM exchange.record_blocks"
            )
            print(f"{blocks['n']:,} blocks, {float(blocks['size']):,.0f} records a block")
            await measure(conn, records, "in blocks")
            # The moved rows' pages (the table's, truncated by VACUUM, and its index's) are
            # reused by later appends: rebuilt, the log holds what a steady state holds.
            await conn.execute("REINDEX TABLE exchange.records")
            await measure(conn, records, "in blocks, the rows' index rebuilt")
        finally:
            await conn.close()
    finally:
        await drop_test_database(ADMIN_URL, url)


if __name__ == "__main__":
    asyncio.run(main())
