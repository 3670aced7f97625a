"""Exchange benchmark: publish -> readable in three subscribers' feeds, against the local
PostgreSQL and RabbitMQ, with the hub as a `govhub run` subprocess (all-in-one).

Measures, in one run:
1. sustained records/s from HTTP publish (1,000-record batches) until three subscribers
   have read every record from their feeds;
2. p99 from "accepted" (the publish reply) to "readable" (seen by a long-polling feed
   reader) at an offered 2,000 records/s;
3. raw COPY of the same rows into PostgreSQL, and the ratio of 1 to it;
4. the founding document's catalog (46 agencies, 269 topics, 4,535 data items): list and search.

Usage: .venv/bin/python bench/exchange_publish.py [--records 100000] [--workers 2]
Env: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
     BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/; "" for in-process events).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from govhub_common.city.format import load_city
from govhub_demo.city_files import GUANGZHOU

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
# "exchange" measures the exchange alone (split mode, as deployed); "all" runs every service
# in the process, so the registry's and alerting's consumers of each batch share its CPU.
TARGET = os.environ.get("BENCH_TARGET", "exchange")
GOVHUB = str(Path(sys.executable).parent / "govhub")
USCCS = ["91440101MA59ABCD1D", "91350100M000100Y43", "91110108700123456W"]

# The demo city's own schema of new enterprises (one definition of the topic).
SCHEMA: dict[str, Any] = next(
    d.spec["schema"]
    for d in load_city(GUANGZHOU)
    if d.kind.name == "Topic" and d.spec["code"] == "enterprise_registered"
)
GRANTS = [
    ["uscc", "name", "address"],
    ["uscc", "name", "legal_rep_name", "established_date"],
    ["uscc", "name", "registered_capital"],
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record(i: int) -> dict[str, Any]:
    return {
        "record_id": f"E{i:09d}",
        "data": {
            "uscc": USCCS[i % 3],
            "name": f"广州示例贸易有限公司{i}",
            "legal_rep_id": "11010519491231002X",
            "legal_rep_name": "张三",
            "address": "广州市天河区体育西路1号",
            "district": "天河区",
            "industry": "批发业",
            "registered_capital": 1_000_000 + i,
            "established_date": "2008-03-01",
            "mobile": "+8613800138000",
        },
        "business_time": "2008-03-01T09:30:00+08:00",
    }


class Hub:
    def __init__(self, base: str, client: httpx.AsyncClient) -> None:
        self.base = base
        self.client = client

    async def token(self, client_id: str, secret: str) -> dict[str, str]:
        r = await self.client.post(
            f"{self.base}/exchange/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def call(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.client.request(
            method, f"{self.base}/exchange/v1{path}", headers=headers, **kw
        )
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return orjson.loads(r.content)

    async def agency(
        self, op: dict[str, str], code: str, name: str, scopes: list[str]
    ) -> dict[str, str]:
        await self.call("POST", "/agencies", op, json={"code": code, "name": name})
        client = await self.call("POST", f"/agencies/{code}/clients", op, json={"scopes": scopes})
        return await self.token(client["client_id"], client["client_secret"])


async def start_hub(db_url: str, home: Path, port: int, workers: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "GOVHUB_DATABASE_URL": db_url,
        "GOVHUB_HOME": str(home),
        "GOVHUB_LOG_LEVEL": "WARNING",
        "GOVHUB_DB_POOL_SIZE": "20",
    }
    if AMQP_URL:
        env["GOVHUB_AMQP_URL"] = AMQP_URL
        env["GOVHUB_AMQP_EXCHANGE"] = f"bench.{uuid.uuid4().hex[:6]}"
        env["GOVHUB_AMQP_QUEUE_PREFIX"] = env["GOVHUB_AMQP_EXCHANGE"] + "."
        env["GOVHUB_AMQP_DELETE_QUEUES_AT_STOP"] = "true"  # leave the broker as found
    profile = os.environ.get("BENCH_PROFILE")  # a cProfile output file for the hub process
    prefix = [sys.executable, "-m", "cProfile", "-o", profile, GOVHUB] if profile else [GOVHUB]
    process = await asyncio.create_subprocess_exec(
        *prefix,
        "run",
        "--target",
        TARGET,
        "--port",
        str(port),
        "--workers",
        str(workers),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                health = await client.get(f"http://127.0.0.1:{port}/exchange/healthz")
                if health.status_code == 200 and (home / "operator-secret").exists():
                    return process
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the hub did not start")


Reader = tuple[dict[str, str], int, set[str]]  # token headers, subscription id, granted items


async def reader(hub: Hub, feed: Reader, until: int, seen: dict[int, float] | None) -> float:
    """Long-poll a feed until `until` records were read; returns when done. Every record
    must arrive once, in order, with exactly the granted items (checked, not counted)."""
    headers, sub_id, granted = feed
    after = 0
    count = 0
    position: str | None = None  # the feed's cursor: `position` stays valid while caught up
    while count < until:
        params: dict[str, Any] = {"limit": 5000, "wait": 5}
        if position is not None:
            params["cursor"] = position
        page = await hub.call("GET", f"/subscriptions/{sub_id}/records", headers, params=params)
        now = time.perf_counter()
        records = page["data"]
        seqs = [r["seq"] for r in records]
        assert seqs == list(range(after + 1, after + 1 + len(records))), (
            f"feed {sub_id}: seqs {seqs[:3]}... after {after}"
        )
        assert all(r["data"].keys() == granted for r in records), f"feed {sub_id}: items"
        if seen is not None:
            for seq in seqs:
                seen.setdefault(seq, now)
        after += len(records)
        count += len(records)
        position = page["position"]
        assert page["next"] in (None, position) and page["caught_up"] == (page["next"] is None)
    assert count == until, f"feed {sub_id}: {count} records, expected {until}"
    return time.perf_counter()


async def throughput(
    hub: Hub, amr: dict[str, str], readers: list[Reader], topic: str, n: int
) -> float:
    batches = [orjson.dumps([record(i) for i in range(b, b + 1000)]) for b in range(0, n, 1000)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in batches:
        queue.put_nowait(body)

    async def publisher() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            r = await hub.client.post(
                f"{hub.base}/exchange/v1/topics/{topic}/records",
                content=body,
                headers={**amr, "content-type": "application/json"},
            )
            assert r.status_code == 200 and orjson.loads(r.content)["counts"]["accepted"] == 1000, (
                r.text[:300]
            )

    started = time.perf_counter()
    reading = [asyncio.create_task(reader(hub, feed, n, None)) for feed in readers]
    await asyncio.gather(*(publisher() for _ in range(3)))
    ends = await asyncio.gather(*reading)
    return n / (max(ends) - started)


async def latency(
    hub: Hub,
    amr: dict[str, str],
    readers: list[Reader],
    topic: str,
    rate: int,
    seconds: float,
) -> list[float]:
    batch = rate // 20  # a batch every 50 ms
    total = int(rate * seconds) // batch * batch
    seen: list[dict[int, float]] = [{} for _ in readers]
    accepted: dict[int, float] = {}
    reading = [
        asyncio.create_task(reader(hub, feed, total, seen[k])) for k, feed in enumerate(readers)
    ]
    start = time.perf_counter()

    async def one(b: int) -> None:
        body = orjson.dumps([record(10_000_000 + i) for i in range(b, b + batch)])
        r = await hub.client.post(
            f"{hub.base}/exchange/v1/topics/{topic}/records",
            content=body,
            headers={**amr, "content-type": "application/json"},
        )
        now = time.perf_counter()
        for a in orjson.loads(r.content)["accepted"]:
            accepted[a["seq"]] = now

    tasks = []
    for k, b in enumerate(range(0, total, batch)):
        delay = start + k * 0.05 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(b)))
    await asyncio.gather(*tasks)
    await asyncio.gather(*reading)
    return [max(0.0, s[seq] - accepted[seq]) for s in seen for seq in accepted]


async def raw_copy(db_url: str, n: int) -> float:
    """COPY of the rows a publish stores (the record and its head, as migrations 0013 and 0016
    lay them out) into plain tables with the same indexes, 1,000 a transaction: the physical
    limit the publish path is compared with."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("CREATE TABLE public.bench_copy (LIKE exchange.records INCLUDING ALL)")
        await conn.execute(
            "CREATE TABLE public.bench_copy_heads (LIKE exchange.record_heads INCLUDING ALL)"
        )
        rows = []
        heads = []
        for i in range(n):
            r = record(i)
            rows.append(
                (
                    "t",
                    i + 1,
                    r["record_id"],
                    1,
                    1,
                    None,
                    None,
                    "x",
                    orjson.dumps(r["data"]).decode(),
                )
            )
            heads.append((1, r["record_id"], 1, os.urandom(16), None, i + 1))
        started = time.perf_counter()
        for b in range(0, n, 1000):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "bench_copy",
                    schema_name="public",
                    columns=[
                        "topic_code",
                        "seq",
                        "record_id",
                        "version",
                        "topic_version",
                        "business_time",
                        "published_at",
                        "publisher",
                        "data",
                    ],
                    records=[(*row[:6], datetime.now(UTC), *row[7:]) for row in rows[b : b + 1000]],
                )
                await conn.copy_records_to_table(
                    "bench_copy_heads",
                    schema_name="public",
                    columns=[
                        "topic_number",
                        "record_id",
                        "version",
                        "content_hash",
                        "first_seq",
                        "seq",
                    ],
                    records=heads[b : b + 1000],
                )
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


async def catalog(hub: Hub, op: dict[str, str]) -> dict[str, float]:
    """46 agencies, 269 topics, 4,535 data items; then list and search."""
    agencies = []
    for a in range(45):  # plus gz-datacenter, which owns hub_warnings
        code = f"cat-{a:02d}"
        agencies.append(
            await hub.agency(op, code, f"广州市第{a}局", ["exchange:catalog", "exchange:publish"])
        )
    hub_items = 8
    total_items, topics = 4535 - hub_items, 268
    per_topic = [
        total_items // topics + (1 if t < total_items % topics else 0) for t in range(topics)
    ]
    for t, n_items in enumerate(per_topic):
        schema = {
            "type": "object",
            "properties": {
                f"item_{k:02d}": {"type": "string", "title": f"数据项{t}-{k}"}
                for k in range(n_items)
            },
            "required": ["item_00"],
        }
        await hub.call(
            "POST",
            "/topics",
            agencies[t % 45],
            json={
                "code": f"cat_topic_{t:03d}",
                "title": f"主题{t}登记信息",
                "sharing_type": "conditional",
                "schema": schema,
            },
        )
    timings: dict[str, float] = {}

    async def timed(name: str, fn: Any) -> Any:
        started = time.perf_counter()
        result = await fn()
        timings[name] = (time.perf_counter() - started) * 1000
        return result

    async def list_all(path: str, limit: int) -> int:
        count, cursor = 0, None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = await hub.call("GET", path, op, params=params)
            count += len(page["data"])
            cursor = page["next"]
            if not cursor:
                return count

    async def list_topics() -> int:
        return await list_all("/topics", 100)

    async def list_items() -> int:
        return await list_all("/data-items", 1000)

    topics_seen = await timed("list all topics (3 pages) ms", list_topics)
    items_seen = await timed("list all data items (5 pages) ms", list_items)
    await timed(
        "search topics q=登记 ms", lambda: hub.call("GET", "/topics", op, params={"q": "登记"})
    )
    await timed(
        "search data items q=数据项12- ms",
        lambda: hub.call("GET", "/data-items", op, params={"q": "数据项12-"}),
    )
    timings["topics"] = topics_seen
    timings["data items"] = items_seen
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes of the hub (govhub run --workers)"
    )
    args = parser.parse_args()
    admin = await asyncpg.connect(ADMIN_URL)
    name = f"govhub_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    db_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    home = Path(tempfile.mkdtemp(prefix="govhub-bench-"))
    port = free_port()
    process = await start_hub(db_url, home, port, args.workers)
    try:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=20)) as client:
            hub = Hub(f"http://127.0.0.1:{port}", client)
            op = await hub.token("operator", (home / "operator-secret").read_text().strip())
            amr = await hub.agency(
                op, "b-amr", "广州市工商行政管理局", ["exchange:publish", "exchange:catalog"]
            )
            subscribers = [
                await hub.agency(op, code, title, ["exchange:subscribe"])
                for code, title in (("b-qts", "质监"), ("b-ltax", "地税"), ("b-ntax", "国税"))
            ]
            results: dict[str, Any] = {}
            for phase in ("throughput", "latency"):
                topic = f"bench_{phase}"
                await hub.call(
                    "POST",
                    "/topics",
                    amr,
                    json={
                        "code": topic,
                        "title": "企业开业登记",
                        "sharing_type": "unconditional",
                        "schema": SCHEMA,
                    },
                )
                readers: list[Reader] = []
                for headers, items in zip(subscribers, GRANTS, strict=True):
                    sub = await hub.call(
                        "POST",
                        "/subscriptions",
                        headers,
                        json={"topic": topic, "purpose": "bench", "items": items},
                    )
                    readers.append((headers, sub["id"], set(items)))
                if phase == "throughput":
                    results["rate"] = await throughput(hub, amr, readers, topic, args.records)
                else:
                    lat = await latency(hub, amr, readers, topic, 2000, args.latency_seconds)
                    lat.sort()
                    results["p50"] = statistics.median(lat)
                    results["p99"] = lat[int(len(lat) * 0.99) - 1]
            results["catalog"] = await catalog(hub, op)
        copy_rate = await raw_copy(db_url, args.records)
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    )
    print(
        f"bus: {'RabbitMQ' if AMQP_URL else 'in-process'}; "
        f"hub: govhub run --target {TARGET} --workers {args.workers} subprocess"
    )
    print(
        f"publish -> readable in 3 feeds: {results['rate']:,.0f} records/s ({args.records:,} records, 1,000 per batch)"
    )
    print(
        f"raw COPY of the same rows: {copy_rate:,.0f} rows/s; ratio {results['rate'] / copy_rate:.2f}"
    )
    print(
        f"accepted -> readable at 2,000 records/s: p50 {results['p50'] * 1000:.0f} ms, p99 {results['p99'] * 1000:.0f} ms"
    )
    for key, value in results["catalog"].items():
        print(f"catalog {key}: {value:,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
