"""Lookup latency: GET a person or legal entity by ID through HTTP at a fixed request rate,
with 1,000,000 persons and 200,000 legal entities loaded by COPY.

    GOVHUB_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/registry_lookup.py [persons] [entities] [rates] [seconds]

(`rates`: one or several, comma-separated, measured one after the other: 100,250,500)

Starts `govhub run` (all-in-one, in-process events) on a scratch database, loads the
registries with COPY (indexes built after the load), then sends requests open-loop at
`rate` per second (latency counted from each request's scheduled time, so a stall is not
hidden) with a token of an agency holding `registry:read`; every read also writes its
access-log row, as in production.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
from stdnum.cn import ric, uscc

from govhub_common.db import asyncpg_dsn
from govhub_common.security import KeyPair, TokenIssuer
from govhub_common.testing import create_test_database, drop_test_database

CHUNK = 50_000
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华玉兰建国志红"
DISTRICTS = ["越秀区", "海珠区", "荔湾区", "天河区", "白云区", "黄埔区", "番禺区", "花都区"]


def person_row(rng: random.Random, n: int) -> tuple[str, str, str]:
    birth = date(1930, 1, 1) + timedelta(days=rng.randrange(75 * 365))
    # Region and serial from n keep every number unique.
    body = f"44{(n // 1000) % 10000:04d}{birth:%Y%m%d}{n % 1000:03d}"
    id_number = body + ric.calc_check_digit(body + "0")
    attributes = {
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
        "sex": "male" if int(id_number[16]) % 2 else "female",
        "birth_date": birth.isoformat(),
        "household_id": f"H{n:09d}",
        "address": f"广州市{rng.choice(DISTRICTS)}中山路{n % 999}号",
        "district": rng.choice(DISTRICTS),
        "mobile": f"+86139{n:08d}",
        "vital_status": "alive",
    }
    claims = {k: {"gz-psb": [v, 1, "2024-01-01", n]} for k, v in attributes.items()}
    return id_number, orjson.dumps(attributes).decode(), orjson.dumps(claims).decode()


def entity_row(rng: random.Random, n: int) -> tuple[str, str, str]:
    body = "914401" + f"{n:011d}"
    code = body + uscc.calc_check_digit(body)
    attributes = {
        "name": f"广州市{rng.choice(SURNAMES)}{n}贸易有限公司",
        "legal_rep_id": "440106197001011234",
        "legal_rep_name": rng.choice(SURNAMES) + rng.choice(GIVEN),
        "address": f"广州市{rng.choice(DISTRICTS)}体育西路{n % 999}号",
        "district": rng.choice(DISTRICTS),
        "industry": "F5191",
        "registered_capital": 500000,
        "established_date": "2020-05-01",
        "status": "active",
    }
    claims = {k: {"gz-amr": [v, 1, "2020-05-01", n]} for k, v in attributes.items()}
    return code, orjson.dumps(attributes).decode(), orjson.dumps(claims).decode()


INDEXES = {
    "person_name_trgm": "CREATE INDEX person_name_trgm ON registry.person USING gin (name public.gin_trgm_ops)",
    "person_birth_date": "CREATE INDEX person_birth_date ON registry.person (birth_date)",
    "person_id_body": "CREATE INDEX person_id_body ON registry.person (left(id_number, 17))",
    "legal_entity_name_trgm": "CREATE INDEX legal_entity_name_trgm ON registry.legal_entity USING gin (name public.gin_trgm_ops)",
    "legal_entity_uscc_body": "CREATE INDEX legal_entity_uscc_body ON registry.legal_entity (left(uscc, 17))",
}


async def load(url: str, persons: int, entities: int) -> tuple[list[str], list[str]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    rng = random.Random(3)
    person_ids: list[str] = []
    entity_ids: list[str] = []
    started = time.perf_counter()
    try:
        for name in INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS registry.{name}")
        for table, count, make, keep in (
            ("person", persons, person_row, person_ids),
            ("legal_entity", entities, entity_row, entity_ids),
        ):
            key = "id_number" if table == "person" else "uscc"
            for start in range(0, count, CHUNK):
                rows = [make(rng, n) for n in range(start, min(count, start + CHUNK))]
                keep.extend(r[0] for r in rows[:: max(1, count // 20000)])
                await conn.copy_records_to_table(
                    table,
                    schema_name="registry",
                    columns=[key, "attributes", "claims"],
                    records=rows,
                )
        loaded = time.perf_counter() - started
        for ddl in INDEXES.values():
            await conn.execute(ddl)
        # What a registry in service looks like: vacuumed and analysed, the load's WAL
        # checkpointed; otherwise autovacuum and the checkpoint of 1.2 million fresh rows
        # run during the measurement.
        await conn.execute("VACUUM (ANALYZE) registry.person")
        await conn.execute("VACUUM (ANALYZE) registry.legal_entity")
        await conn.execute("CHECKPOINT")
        print(
            f"loaded {persons:,} persons and {entities:,} legal entities with COPY in {loaded:.1f} s "
            f"(+ indexes, VACUUM ANALYZE and CHECKPOINT: {time.perf_counter() - started:.1f} s in all)"
        )
    finally:
        await conn.close()
    return person_ids, entity_ids


async def _connection(
    host: str,
    port: int,
    token: str,
    queue: asyncio.Queue[tuple[str, float] | None],
    latencies: list[float],
    failures: list[int],
) -> None:
    """One keep-alive HTTP/1.1 connection taking requests off the shared queue (a minimal
    client: httpx's pool spent more CPU than the server on this 2-core machine)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (item := await queue.get()) is not None:
            path, scheduled = item
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - scheduled)
            if status != 200:
                failures.append(status)
    finally:
        writer.close()


async def measure(
    port: int, token: str, persons: list[str], entities: list[str], rate: int, seconds: int
) -> list[float]:
    rng = random.Random(5)
    latencies: list[float] = []
    failures: list[int] = []
    queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    workers = 32
    for key in persons[:200]:  # warm-up: connections, caches
        queue.put_nowait((f"/registry/v1/persons/{key}?purpose=bench", time.perf_counter()))
    for _ in range(workers):
        queue.put_nowait(None)
    await asyncio.gather(
        *(_connection("127.0.0.1", port, token, queue, [], failures) for _ in range(workers))
    )
    tasks = [
        asyncio.create_task(_connection("127.0.0.1", port, token, queue, latencies, failures))
        for _ in range(workers)
    ]
    start = time.perf_counter()
    for i in range(rate * seconds):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if rng.random() < 0.8:
            path = f"/registry/v1/persons/{rng.choice(persons)}?purpose=bench"
        else:
            path = f"/registry/v1/legal-entities/{rng.choice(entities)}?purpose=bench"
        queue.put_nowait((path, scheduled))
    for _ in range(workers):
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        f"lookup by ID over HTTP: {len(latencies):,} requests at {rate}/s for {seconds} s "
        f"({len(latencies) / elapsed:.0f}/s completed), non-200: {len(failures)}: "
        f"p50 {pct(0.50):.1f} ms, p90 {pct(0.90):.1f} ms, p99 {pct(0.99):.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    return latencies


async def main(persons: int, entities: int, rates: list[int], seconds: int) -> None:
    admin = os.environ.get("GOVHUB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = await create_test_database(admin, prefix="govhub_bench_lookup")
    home = Path(tempfile.mkdtemp(prefix="govhub-bench-"))
    port = 18000 + random.randrange(1000)
    env = {
        **os.environ,
        "GOVHUB_DATABASE_URL": url,
        "GOVHUB_HOME": str(home),
        "GOVHUB_LOG_LEVEL": "WARNING",
    }
    env.pop("GOVHUB_AMQP_URL", None)
    govhub = str(Path(sys.executable).with_name("govhub"))
    # BENCH_WORKERS=2: `govhub run --workers 2`, one process per core.
    workers = os.environ.get("BENCH_WORKERS", "1")
    server = await asyncio.create_subprocess_exec(
        govhub, "run", "--port", str(port), "--workers", workers, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(600):
                try:
                    if (await probe.get(f"{base}/registry/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        person_ids, entity_ids = await load(url, persons, entities)
        keys = home / "keys"
        pair = KeyPair(
            (keys / "jwt-private.pem").read_bytes(), (keys / "jwt-public.pem").read_bytes()
        )
        token = TokenIssuer(pair, issuer="govhub", audience="govhub").issue(
            "gz-ltax", ["registry:read"], ttl_seconds=3600
        )
        for rate in rates:
            await measure(port, token, person_ids, entity_ids, rate, seconds)
    finally:
        server.terminate()
        await server.wait()
        await drop_test_database(admin, url)


if __name__ == "__main__":
    argv = sys.argv[1:]
    persons = int(argv[0]) if len(argv) > 0 else 1_000_000
    entities = int(argv[1]) if len(argv) > 1 else 200_000
    rates = [int(r) for r in argv[2].split(",")] if len(argv) > 2 else [500]
    seconds = int(argv[3]) if len(argv) > 3 else 20
    try:  # the load generator shares the two cores: the lighter event loop where installed
        import uvloop
    except ImportError:
        asyncio.run(main(persons, entities, rates, seconds))
    else:
        uvloop.run(main(persons, entities, rates, seconds))
