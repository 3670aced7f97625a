"""Persistent timers: a sweep killed mid-way and restarted, and replicas sweeping at once,
fire every due timer exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from govhub_alerting.app import SERVICE
from govhub_alerting.engine.ingest import ingest_event
from govhub_alerting.engine.sweep import sweep
from govhub_alerting.rules.service import adopt_city
from govhub_common.db import Database
from govhub_common.migrations import upgrade_async
from govhub_common.testing import running_hub, wait_for
from tests.alerting.support import at, moment, next_year, record_event, uscc, warnings_of

ENTERPRISES = 1500
REGISTERED_IN_TIME = 500  # the first 500 register with tax on day 10


@pytest.fixture
async def alerting_db(fresh_db_url: str) -> AsyncIterator[tuple[Database, date]]:
    """A fresh database with the alerting schema, the Guangzhou rules and 1,500 licences."""
    await upgrade_async(SERVICE.migrations, fresh_db_url, SERVICE.schema)
    db = Database(fresh_db_url, pool_size=4)
    day0 = date(next_year(), 3, 1)
    codes = [uscc() for _ in range(ENTERPRISES)]
    async with db.session() as session:
        # Guangzhou's topics and rules (tests/conftest.py)
        await adopt_city(session, Path(os.environ["GOVHUB_CITY_FILES"]))
    for start in range(0, ENTERPRISES, 500):
        licences = [
            {
                "uscc": c,
                "name": "戊",
                "established_date": day0.isoformat(),
                "mobile": "+8613900000000",
            }
            for c in codes[start : start + 500]
        ]
        async with db.session() as session:
            await ingest_event(
                session,
                record_event("enterprise_registered", "gz-amr", *licences),
                now=moment(day0),
            )
    registrations = [
        {"uscc": c, "tax_no": "T", "registered_date": f"{day0.year}-03-11"}
        for c in codes[:REGISTERED_IN_TIME]
    ]
    async with db.session() as session:
        await ingest_event(
            session,
            record_event("local_tax_registered", "gz-ltax", *registrations),
            now=moment(day0),
        )
    yield db, day0
    await db.close()


async def assert_fired_exactly_once(db: Database) -> None:
    missing = ENTERPRISES - REGISTERED_IN_TIME
    async with db.session() as session:
        pending = (
            await session.execute(
                sa.text(
                    "SELECT count(*) FROM alerting.timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
                )
            )
        ).scalar_one()
        warnings = (
            await session.execute(
                sa.text("SELECT count(*), count(DISTINCT subject) FROM alerting.warnings")
            )
        ).one()
        events = (await session.execute(sa.text("SELECT type, payload FROM alerting.outbox"))).all()
    assert pending == 0
    assert tuple(warnings) == (missing, missing)
    raised = Counter(
        w["subject"]
        for e in events
        if e.type == "alerting.warning.raised"
        for w in e.payload["data"]["warnings"]
    )
    reminders = Counter(
        r["idempotency_key"]
        for e in events
        if e.type == "alerting.reminder.due"
        for r in e.payload["data"]["reminders"]
    )
    assert len(raised) == missing and set(raised.values()) == {1}
    assert len(reminders) == missing and set(reminders.values()) == {1}


VICTIM = textwrap.dedent(
    """
    import asyncio, sys
    import sqlalchemy as sa
    from govhub_alerting.engine.sweep import fire_batch
    from govhub_common.clock import ensure_utc
    from datetime import datetime
    from govhub_common.db import Database

    async def main(url, as_of):
        db = Database(url, pool_size=2)
        as_of = ensure_utc(datetime.fromisoformat(as_of))
        for _ in range(3):  # three batches committed
            async with db.session() as session:
                await fire_batch(session, as_of=as_of, limit=200)
        async with db.session() as session:  # the fourth is mid-way when the kill comes
            pid = (await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
            await fire_batch(session, as_of=as_of, limit=200)
            print(f"ready {pid}", flush=True)
            sys.stdin.read()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_killed_sweep_restarted_fires_every_due_timer_exactly_once(
    alerting_db: tuple[Database, date],
) -> None:
    db, day0 = alerting_db
    as_of = at(date(day0.year, 4, 1))
    victim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        VICTIM,
        db.url,
        as_of,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parent,
        env={**os.environ},
    )
    try:
        assert victim.stdout is not None
        line = (await asyncio.wait_for(victim.stdout.readline(), timeout=60)).decode()
        assert line.startswith("ready"), line
        backend = int(line.split()[1])
    finally:
        victim.send_signal(signal.SIGKILL)
        await victim.wait()

    async def backend_gone() -> bool:
        async with db.session() as session:
            alive = (
                await session.execute(
                    sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": backend}
                )
            ).scalar_one()
        return alive == 0

    await wait_for(backend_gone)
    async with db.session() as session:
        fired_before = (
            await session.execute(
                sa.text("SELECT count(*) FROM alerting.timers WHERE fired_at IS NOT NULL")
            )
        ).scalar_one()
    assert fired_before == 600  # the three committed batches; the fourth rolled back

    result = await sweep(db, as_of=moment(date(day0.year, 4, 1)), batch_size=300)
    assert result.timers_fired == 2 * (ENTERPRISES - REGISTERED_IN_TIME) - 600
    await assert_fired_exactly_once(db)


async def test_replicas_sweeping_at_once_never_fire_a_timer_twice(
    alerting_db: tuple[Database, date],
) -> None:
    db, day0 = alerting_db
    other = Database(db.url, pool_size=2)
    as_of = moment(date(day0.year, 4, 1))
    try:
        results = await asyncio.gather(
            sweep(db, as_of=as_of, batch_size=100), sweep(other, as_of=as_of, batch_size=100)
        )
    finally:
        await other.close()
    assert sum(r.timers_fired for r in results) == 2 * (ENTERPRISES - REGISTERED_IN_TIME)
    await assert_fired_exactly_once(db)


async def test_scheduler_fires_due_timers_as_of_now(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In service nobody calls /evaluate: the scheduler sweeps as of now() by itself."""
    monkeypatch.setenv("GOVHUB_ALERTING_SWEEP_INTERVAL_SECONDS", "0.1")
    code = uscc()
    licensed = date.today() - timedelta(days=45)
    async with running_hub(fresh_db_url) as hub:
        async with hub.runtime.db.session() as session:
            await adopt_city(session, Path(os.environ["GOVHUB_CITY_FILES"]))
        await hub.runtime.bus.publish(
            [
                record_event(
                    "enterprise_registered",
                    "gz-amr",
                    {"uscc": code, "name": "己", "established_date": licensed.isoformat()},
                )
            ]
        )

        async def raised() -> list[dict[str, object]]:
            return await warnings_of(hub, "gz-ltax", subject=code)

        (warning,) = await wait_for(raised)
        assert warning["due_date"] == (licensed + timedelta(days=30)).isoformat()
