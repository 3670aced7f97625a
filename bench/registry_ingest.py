"""Ingest throughput: exchange records per second into golden records with provenance,
through the consumer path (inbox + mapping + set-based SQL + outbox), on a scratch database.

    GOVHUB_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/registry_ingest.py [events] [records-per-event] [concurrency]

`concurrency` events are handled at once, as the RabbitMQ consumer does with its prefetch
window (each on its own connection), so Python and PostgreSQL overlap on the two cores.
Events wait as JSON bytes and are parsed when handled, as they come off the broker; what
the service builds at startup is frozen out of the collector's sight, as `govhub run` does.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import ric, uscc

from govhub_common.db import Database
from govhub_common.events import CloudEvent
from govhub_common.migrations import upgrade_async
from govhub_common.outbox import idempotent
from govhub_common.runtime import freeze_startup_objects
from govhub_common.testing import (
    create_test_database,
    drop_test_database,
    published_record,
    records_published,
)
from govhub_registry.app import SERVICE
from govhub_registry.consumers import registry_consumers
from govhub_registry.ingest.mapping import load_mapping
from govhub_registry.mappings.service import apply_mapping_file
from govhub_registry.state import RegistryState

GUANGZHOU = Path(__file__).resolve().parent.parent / "examples" / "cities" / "guangzhou"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_uscc(rng: random.Random) -> str:
    body = "91440101" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def make_ric(rng: random.Random) -> str:
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
    body = f"440106{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def enterprise_event(rng: random.Random, seq0: int, size: int) -> CloudEvent:
    records = []
    for i in range(size):
        records.append(
            published_record(
                {
                    "uscc": make_uscc(rng),
                    "name": f"广州市测试{seq0 + i}贸易有限公司",
                    "legal_rep_id": make_ric(rng),
                    "legal_rep_name": "李明",
                    "address": f"广州市天河区体育西路{i}号",
                    "district": "天河区",
                    "industry": "F5191",
                    "registered_capital": 500000,
                    "established_date": "2024-03-01",
                    "mobile": "13800138000",
                },
                seq=seq0 + i,
                business_time="2024-03-01T10:00:00+08:00",
                published_at="2024-03-01T10:00:00+08:00",
            )
        )
    event: CloudEvent = records_published("enterprise_registered", "gz-amr", records)
    return event


class _Ctx:
    def __init__(self) -> None:
        self.state = RegistryState()


async def run(events: int, size: int, concurrency: int = 2) -> None:
    admin = os.environ.get("GOVHUB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = await create_test_database(admin, prefix="govhub_bench_registry")
    try:
        await upgrade_async(SERVICE.migrations, url, SERVICE.schema)
        db = Database(url, pool_size=max(2, concurrency))
        # As the registry's startup does: the city's files seed the mapping rows ingest reads.
        async with db.session() as session:
            await apply_mapping_file(session, load_mapping(GUANGZHOU))
        consumer = registry_consumers(_Ctx())[0]  # type: ignore[arg-type]
        handle = idempotent(
            db, "registry", "registry.records", consumer.handler, service="registry"
        )
        rng = random.Random(1)
        batch = [enterprise_event(rng, 1 + n * size, size).to_json() for n in range(events)]
        await handle(enterprise_event(rng, 10**9, size))  # warm-up (plans, statistics)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in batch:
            queue.put_nowait(body)
        freeze_startup_objects()

        async def worker() -> None:
            while not queue.empty():
                await handle(CloudEvent.from_json(queue.get_nowait()))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        async with db.session() as session:
            from sqlalchemy import text

            rows = (
                await session.execute(text("SELECT count(*) FROM registry.assertion"))
            ).scalar_one()
        await db.close()
        total = events * size
        print(
            f"registry ingest: {total} records in {events} events of {size}, "
            f"{concurrency} at a time: {elapsed:.2f} s, "
            f"{total / elapsed:,.0f} records/s ({rows:,} source assertions with provenance)"
        )
    finally:
        await drop_test_database(admin, url)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    events, size, concurrency = (args + [200, 1000, 2][len(args) :])[:3]
    asyncio.run(run(events, size, concurrency))
