"""Scorecards at the founding document's breadth: a month of all 46 agencies and 269 topics
(target: at most 10 s), and the cost of one more month whatever came before it.

    GOVHUB_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/scorecards.py [--years 1] [--records-per-day 40]

Starts the hub in-process on a scratch database, creates 46 agencies and 269 topics of 17
data items each (4,573 items; 12 optional per topic), then fills the day figures a year of
publishing leaves (migration 0012: every topic publishes every day; delays over five buckets,
each optional item filled, two kinds of fault) plus the facts of the other services
(conflicts, warnings, webhook days, rules), set-based. The rows are what the publish path
writes, at full breadth; how they got there does not change what a month costs to read.

Measures, through the HTTP API as an operator calls it:
- each month of the last year: the agencies' scorecards (46) and the topics' (269);
- closing one month: its scorecards computed and published to hub_scorecards (315 records);
- with `--years 3`, the last year's months again: the same cost with two more years before.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from govhub_common.db import asyncpg_dsn
from govhub_common.testing import (
    admin_database_url,
    create_test_database,
    drop_test_database,
    running_hub,
)

AGENCIES, TOPICS, REQUIRED, OPTIONAL = 46, 269, 5, 12


def agency_code(i: int) -> str:
    return f"gz-a{i:02d}"


def topic_schema() -> dict[str, Any]:
    names = [f"r{i}" for i in range(REQUIRED)] + [f"o{i}" for i in range(OPTIONAL)]
    return {
        "type": "object",
        "properties": {n: {"type": "string", "title": n} for n in names},
        "required": names[:REQUIRED],
    }


# The publish path's day figures: $1 and $2 the year's first and last day, $3 records a day.
FILL = """
INSERT INTO exchange.quality_days (day, topic_code, publisher, received, accepted,
    new_versions, duplicates, rejected, undated, same_day)
SELECT d::date, t.code, t.owner, $3 + 2, $3, $3 / 20, 1, 1, 0, $3 * 9 / 10
FROM generate_series($1::date, $2::date, interval '1 day') d, exchange.topics t
WHERE t.code LIKE 'bench_%';
INSERT INTO exchange.quality_delays (day, topic_code, publisher, bucket, records)
SELECT d::date, t.code, t.owner, b.bucket, $3 / 5
FROM generate_series($1::date, $2::date, interval '1 day') d, exchange.topics t,
    unnest(ARRAY[600, 3600, 7200, 86400, 259200]) AS b(bucket)
WHERE t.code LIKE 'bench_%';
INSERT INTO exchange.quality_filled (day, topic_code, publisher, item, records)
SELECT d::date, t.code, t.owner, 'o' || i, $3 - i
FROM generate_series($1::date, $2::date, interval '1 day') d, exchange.topics t,
    generate_series(0, 11) i
WHERE t.code LIKE 'bench_%';
INSERT INTO exchange.quality_faults (day, topic_code, publisher, item, rule, records)
SELECT d::date, t.code, t.owner, f.item, f.rule, 1
FROM generate_series($1::date, $2::date, interval '1 day') d, exchange.topics t,
    (VALUES ('r0', 'format'), ('(envelope)', 'envelope')) AS f(item, rule)
WHERE t.code LIKE 'bench_%';
INSERT INTO exchange.quality_webhook_days (day, subscriber, topic_code, attempts, failures, dead)
SELECT d::date, a.code, t.code, 40, 1, 0
FROM generate_series($1::date, $2::date, interval '1 day') d, exchange.agencies a
JOIN LATERAL (SELECT code FROM exchange.topics WHERE code LIKE 'bench_%'
              ORDER BY code LIMIT 5) t ON true
WHERE a.code LIKE 'gz-a%';
"""

# The other services' facts: $3 an id offset (one per year), $4 conflicts in the year.
FILL_FACTS = """
INSERT INTO exchange.quality_conflicts (conflict_id, agency, topic_code, attribute, status,
    detected_at, closed_at)
SELECT $3::bigint + n, 'gz-a' || lpad((n % 269 % 46)::text, 2, '0'), 'bench_' || (n % 269),
    'address',
    CASE WHEN n % 3 = 0 THEN 'open' ELSE 'settled' END,
    $1::date + (n % ($2::date - $1::date + 1)) * interval '1 day',
    CASE WHEN n % 3 = 0 THEN NULL
         ELSE $1::date + (n % ($2::date - $1::date + 1) + 5) * interval '1 day' END
FROM generate_series(1, $4) n;
INSERT INTO exchange.quality_warnings (warning_id, agency, rule_id, status, resolution,
    raised_at, resolved_at)
SELECT $3::bigint + n, 'gz-a' || lpad((n % 46)::text, 2, '0'), 'rule_' || (n % 12),
    CASE WHEN n % 4 = 0 THEN 'open' ELSE 'resolved' END,
    CASE WHEN n % 4 = 0 THEN NULL ELSE 'complied_late' END,
    $1::date + (n % ($2::date - $1::date + 1)) * interval '1 day',
    CASE WHEN n % 4 = 0 THEN NULL
         ELSE $1::date + (n % ($2::date - $1::date + 1) + 3) * interval '1 day' END
FROM generate_series(1, $4 * 3 / 2) n;
"""


async def fill(dsn: str, first: date, last: date, per_day: int, offset: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        for text, args in (
            (FILL, (first, last, per_day)),
            (FILL_FACTS, (first, last, offset, 20_000)),
        ):
            for statement in text.split(";"):
                if statement.strip():
                    needed = max(int(n) for n in re.findall(r"\$([0-9]+)", statement))
                    await conn.execute(statement, *args[:needed])
        await conn.execute("ANALYZE")
        counts = {}
        for table in ("quality_days", "quality_delays", "quality_filled", "quality_faults"):
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM exchange.{table}")
        return counts
    finally:
        await conn.close()


async def rules(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO exchange.quality_rules (rule_id, version, enabled, topics, window_days) "
            "VALUES ($1, 1, true, $2, $3)",
            [(f"rule_{i}", [f"bench_{i}", f"bench_{i + 100}"], 30) for i in range(12)],
        )
    finally:
        await conn.close()


def months_of(year: int) -> list[date]:
    return [date(year, m, 1) for m in range(1, 13)]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--records-per-day", type=int, default=40)
    args = parser.parse_args()
    admin = admin_database_url(Path(os.environ.get("GOVHUB_HOME", ".govhub-bench")))
    url = await create_test_database(admin, prefix="govhub_bench_scorecards")
    os.environ.setdefault("GOVHUB_LOG_LEVEL", "WARNING")
    try:
        async with running_hub(url) as hub:
            operator = hub.operator()
            for i in range(AGENCIES):
                reply = await hub.client.post(
                    "/exchange/v1/agencies",
                    json={"code": agency_code(i), "name": f"部门{i}"},
                    headers=operator,
                )
                assert reply.status_code == 201, reply.text
            for t in range(TOPICS):
                owner = agency_code(t % AGENCIES)
                reply = await hub.client.post(
                    "/exchange/v1/topics",
                    json={
                        "code": f"bench_{t}",
                        "title": f"主题{t}",
                        "sharing_type": "unconditional",
                        "schema": topic_schema(),
                    },
                    headers=hub.auth(owner, "exchange:catalog"),
                )
                assert reply.status_code == 201, reply.text
            dsn = asyncpg_dsn(url)
            await rules(dsn)
            last_year = 2008 + args.years - 1
            for k in range(args.years):
                year = 2008 + k
                started = time.perf_counter()
                counts = await fill(
                    dsn, date(year, 1, 1), date(year, 12, 31), args.records_per_day, k * 10**7
                )
                print(f"filled {year} in {time.perf_counter() - started:.0f} s: {counts}")

            print(f"\n{'month':8} {'agencies':>9} {'topics':>9} {'both':>8}")
            totals = []
            for month in months_of(last_year):
                label = month.strftime("%Y-%m")
                t0 = time.perf_counter()
                by_agency = await hub.client.get(
                    "/exchange/v1/scorecards",
                    params={"month": label, "limit": 1000},
                    headers=operator,
                )
                t1 = time.perf_counter()
                by_topic = await hub.client.get(
                    "/exchange/v1/scorecards",
                    params={"month": label, "by": "topic", "limit": 1000},
                    headers=operator,
                )
                t2 = time.perf_counter()
                assert by_agency.status_code == by_topic.status_code == 200
                agencies = [c for c in by_agency.json()["data"] if c["agency"].startswith("gz-a")]
                topics = by_topic.json()["data"]
                assert len(agencies) == AGENCIES, len(agencies)
                assert len([c for c in topics if c["topic"].startswith("bench_")]) == TOPICS
                totals.append(t2 - t0)
                print(f"{label:8} {t1 - t0:8.2f}s {t2 - t1:8.2f}s {t2 - t0:7.2f}s")
            print(
                f"a month, agencies and topics: median {statistics.median(totals):.2f} s, "
                f"max {max(totals):.2f} s (first {totals[0]:.2f} s, last {totals[-1]:.2f} s)"
            )

            # Closing one month: every other month marked published, then December's.
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(
                    "INSERT INTO exchange.scorecard_months (month, scorecards) "
                    "SELECT m::date, 0 FROM generate_series($1::date, $2::date, "
                    "interval '1 month') m",
                    date(2008, 1, 1),
                    date(last_year, 11, 1),
                )
            finally:
                await conn.close()
            t0 = time.perf_counter()
            closed = await hub.client.post(
                "/exchange/v1/scorecards/close",
                json={"as_of": f"{last_year + 1}-01-01T12:00:00+08:00"},
                headers=operator,
            )
            elapsed = time.perf_counter() - t0
            assert closed.status_code == 200, closed.text
            print(f"closing {closed.json()['months']}: {closed.json()['scorecards']} records "
                  f"published in {elapsed:.2f} s")  # fmt: skip
    finally:
        await drop_test_database(admin, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
