"""Alerting benchmark: the 30-day tax-registration rule swept over N enterprises, and the
event-driven path's rate.

For each N, N licences and their tax registrations (91% in time, 3% late, 6% never) are
COPYed into alerting.facts. Timed: the dry run (what the rule would raise, one query); the
full sweep as a backfill applies it (timers from every licence, compliance judged over all
registrations set-based, the remaining deadlines fired, warnings raised); and the worst case
of the timer path, every deadline still pending when the sweep comes, fired by two workers
sharing the timers. Then (up to 1M) a new rule is dry-run over the same licences and
registrations kept only as records, its facts derived first. Last, licences are fed through
the consumer (inbox + records + facts + timers) in events of 1,000 records.

    .venv/bin/python bench/alerting_sweep.py                  # 100k and 1M
    .venv/bin/python bench/alerting_sweep.py 100000 1000000 10000000

The database server is GOVHUB_BENCH_DATABASE_URL (default the local one, trust auth); a
scratch database is created and dropped.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import sqlalchemy as sa

from govhub_alerting.app import SERVICE
from govhub_alerting.engine.backfill import backfill
from govhub_alerting.engine.ingest import ingest_event
from govhub_alerting.engine.rules_sql import would_raise
from govhub_alerting.engine.sweep import sweep
from govhub_alerting.rules.kinds.absence import create_timers
from govhub_alerting.rules.service import StoredRule, adopt_city, get_rule
from govhub_common.db import Database, raw_connection
from govhub_common.migrations import upgrade_async
from govhub_common.outbox import idempotent
from govhub_common.testing import (
    create_test_database,
    drop_test_database,
    published_record,
    records_published,
)

GUANGZHOU = Path(__file__).resolve().parent.parent / "examples" / "cities" / "guangzhou"
ADMIN_URL = os.environ.get(
    "GOVHUB_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DAY0 = date(2008, 1, 1)
LICENCE_VIEW = "enterprise_registered:uscc:established_date"
TAX_VIEW = "local_tax_registered:uscc:registered_date"
RULE = "tax_registration_missing"
# The timer-path worst case is measured up to this size (it takes minutes beyond).
WORST_CASE_UP_TO = 1_000_000


def uscc(i: int) -> str:
    return f"914401{i:012d}"


def facts(n: int, seq0: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    licences, registrations = [], []
    for i in range(n):
        code, established = uscc(i), DAY0 + timedelta(days=i % 365)
        data = orjson.dumps(
            {
                "uscc": code,
                "name": "示范企业",
                "established_date": established.isoformat(),
                "mobile": "+8613800138000",
            }
        ).decode()
        licences.append(
            (LICENCE_VIEW, "enterprise_registered", seq0 + i, code, established, "gz-amr", data)
        )
        bucket = i % 100
        if bucket < 94:  # 91% in time, 3% after the deadline, 6% never
            registered = established + timedelta(days=(i % 30) if bucket < 91 else 45)
            tax = orjson.dumps({"uscc": code, "registered_date": registered.isoformat()}).decode()
            registrations.append(
                (TAX_VIEW, "local_tax_registered", seq0 + n + i, code, registered, "gz-ltax", tax)
            )
    return licences, registrations


COLUMNS = ["view", "topic", "seq", "subject", "business_date", "publisher", "data"]


async def reset(db: Database, *, keep_facts: bool = False) -> None:
    tables = "alerting.timers, alerting.warning_history, alerting.warnings, alerting.outbox"
    if not keep_facts:
        tables += ", alerting.facts, alerting.fact_views, alerting.records, alerting.inbox"
    async with db.session() as session:
        await session.execute(sa.text(f"TRUNCATE {tables}"))


async def vacuum(db: Database, table: str) -> None:
    """What autovacuum does after a bulk load: statistics and the visibility map."""
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f"VACUUM ANALYZE {table}"))


async def sweep_point(db: Database, n: int) -> dict[str, object]:
    await reset(db)
    started = time.perf_counter()
    licences, registrations = facts(n, seq0=1)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    async with db.session() as session:
        raw = await raw_connection(session)
        await raw.copy_records_to_table(
            "facts", schema_name="alerting", records=licences, columns=COLUMNS
        )
        await raw.copy_records_to_table(
            "facts", schema_name="alerting", records=registrations, columns=COLUMNS
        )
    del licences, registrations
    await vacuum(db, "alerting.facts")
    copied = time.perf_counter() - started

    async with db.session() as session:
        stored = await get_rule(session, rule_id=RULE)
    # Deadline timers only: the figure is the 30-day judgement, not the reminders.
    rule = stored.rule.model_copy(update={"reminders": []})
    deadline_only = StoredRule(rule=rule, version=stored.version, enabled=True, source="file")
    as_of = datetime.combine(DAY0 + timedelta(days=365 + 31), datetime.min.time(), tzinfo=UTC)

    started = time.perf_counter()
    async with db.session() as session:
        total, _ = await would_raise(session, stored=stored, as_of=as_of, limit=10)
    dry_run = time.perf_counter() - started

    # The full sweep, set-based: timers from every licence, compliance judged over all
    # registrations at once, then the remaining deadlines fired (what a backfill does).
    started = time.perf_counter()
    async with db.session() as session:
        applied = await backfill(
            session, stored=deadline_only, as_of=as_of, dry_run=False, limit=10, batch_size=10_000
        )
    full_sweep = time.perf_counter() - started

    figures: dict[str, object] = {
        "enterprises": n,
        "generate_s": round(generated, 1),
        "copy_s": round(copied, 1),
        "dry_run_s": round(dry_run, 2),
        "would_raise": total,
        "full_sweep_s": round(full_sweep, 2),
        "full_sweep_raised": applied.raised,
    }
    if n > WORST_CASE_UP_TO:
        return figures
    # Worst case for the timer path: every deadline still pending when the sweep comes
    # (in service, registrations cancel their timers as they arrive).
    await reset(db, keep_facts=True)
    # Set the timers as if no registration had been seen yet (so none is settled at once),
    # then point them back at the registrations: all 100% are pending and must be judged.
    nothing = rule.model_copy(
        update={"expected": [e.model_copy(update={"topic": "not_loaded"}) for e in rule.expected]}
    )
    blind = StoredRule(rule=nothing, version=stored.version, enabled=True, source="file")
    async with db.session() as session:
        timers = await create_timers(session, stored=blind, fact_ids=None)
        await session.execute(
            sa.text("UPDATE alerting.timers SET awaited_views = :v"),
            {"v": [e.view for e in rule.expected]},
        )
    await vacuum(db, "alerting.timers")
    started = time.perf_counter()
    result = await sweep(db, as_of=as_of, batch_size=10_000, workers=2)
    swept = time.perf_counter() - started
    return {
        **figures,
        "worst_case_timers": timers,
        "worst_case_sweep_s": round(swept, 2),
        "worst_case_raised": result.warnings_raised,
        "worst_case_resolved_complied_late": result.warnings_resolved,
        "worst_case_timers_per_s": round(result.timers_fired / swept),
    }


RECORD_COLUMNS = ["topic", "seq", "publisher", "data", "received_at"]


async def history_point(db: Database, n: int) -> dict[str, object]:
    """A rule no stored rule's facts serve, dry-run over N licences and their registrations
    kept only as records (alerting.records): the facts it needs are derived first."""
    await reset(db)
    licences, registrations = facts(n, seq0=1)
    # History: received yesterday, not in the last minutes.
    received = datetime.now(UTC) - timedelta(days=1)
    async with db.session() as session:
        raw = await raw_connection(session)
        for rows in (licences, registrations):
            await raw.copy_records_to_table(
                "records",
                schema_name="alerting",
                records=[(r[1], r[2], r[5], r[6], received) for r in rows],
                columns=RECORD_COLUMNS,
            )
    del licences, registrations
    await vacuum(db, "alerting.records")
    async with db.session() as session:
        stored = await get_rule(session, rule_id=RULE)
    # The same judgement under a new id, over views whose facts nobody kept: every licence
    # and registration becomes a fact from its record first; a second dry run reads only
    # the records received since.
    rule = stored.rule.model_copy(update={"id": "bench_new_rule", "reminders": []})
    new = StoredRule(rule=rule, version=1, enabled=True, source="api")
    as_of = datetime.combine(DAY0 + timedelta(days=365 + 31), datetime.min.time(), tzinfo=UTC)
    async with db.session() as session:
        await session.execute(sa.text("TRUNCATE alerting.facts, alerting.fact_views"))
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        async with db.session() as session:
            result = await backfill(
                session, stored=new, as_of=as_of, dry_run=True, limit=10, batch_size=10_000
            )
        timings.append(round(time.perf_counter() - started, 2))
    return {
        "records": n,
        "history_first_dry_run_s": timings[0],
        "history_second_dry_run_s": timings[1],
        "would_raise": result.would_raise,
    }


async def event_rate(db: Database, events: int = 50, per_event: int = 1000) -> dict[str, object]:
    await reset(db)
    handler = idempotent(
        db,
        "alerting",
        "alerting.facts",
        lambda s, e: ingest_event(s, e, now=datetime.now(UTC)),
        service="alerting",
    )
    batches = []
    seq = 10**9
    for b in range(events):
        records = []
        for _ in range(per_event):
            seq += 1
            code = f"915{uuid.uuid4().hex[:15].upper()}"
            records.append(
                published_record(
                    {
                        "uscc": code,
                        "name": "示范企业",
                        "established_date": (DAY0 + timedelta(days=b)).isoformat(),
                        "mobile": "+8613800138000",
                    },
                    seq=seq,
                )
            )
        batches.append(records_published("enterprise_registered", "gz-amr", records))
    started = time.perf_counter()
    for event in batches:
        await handler(event)
    elapsed = time.perf_counter() - started
    return {
        "events": events,
        "records_per_event": per_event,
        "seconds": round(elapsed, 2),
        "trigger_records_per_s": round(events * per_event / elapsed),
        "events_per_s": round(events / elapsed, 1),
    }


async def main(sizes: list[int]) -> None:
    url = await create_test_database(ADMIN_URL, prefix="govhub_bench")
    db = Database(url, pool_size=4)
    try:
        await upgrade_async(SERVICE.migrations, url, SERVICE.schema)
        async with db.session() as session:
            await adopt_city(session, GUANGZHOU)  # its topics and rules
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        async with db.session() as session:
            print("server:", (await session.execute(sa.text("SHOW server_version"))).scalar_one())
        for n in sizes:
            print("sweep", await sweep_point(db, n), flush=True)
        for n in sizes:
            if n <= WORST_CASE_UP_TO:
                print("history", await history_point(db, n), flush=True)
        print("events", await event_rate(db), flush=True)
    finally:
        await db.close()
        await drop_test_database(ADMIN_URL, url)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]))
