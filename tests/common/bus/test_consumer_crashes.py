"""Consumers that die holding events: a crash loop does not dead-letter the healthy events
that were merely in flight; an event that kills its consumer every time is parked by the
broker's backstop, counted, alerted on, listed with why, and re-driven.

Each test runs on a RabbitMQ virtual host of its own and the machine's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.bus import Subscription
from govhub_common.bus.rabbitmq import RabbitMQBus
from govhub_common.db import Database
from govhub_common.events import CloudEvent
from govhub_common.outbox import idempotent, inbox_table
from govhub_common.testing import rabbitmqctl, wait_for

PREFETCH = 32
CRASHES = 6

# A consumer process that takes a full prefetch and holds it (its handler is slow), until
# the test kills it; or, with `kill-on-poison`, dies when it meets the poison event.
CONSUMER = textwrap.dedent(
    """
    import asyncio, os, sys
    from govhub_common.bus import Subscription
    from govhub_common.bus.rabbitmq import RabbitMQBus

    url, exchange, mode, crash_limit = sys.argv[1:5]

    async def main():
        bus = RabbitMQBus(url, exchange=exchange, queue_prefix=exchange + ".",
                          prefetch=32, crash_delivery_limit=int(crash_limit))
        await bus.start()

        async def handler(event):
            if mode == "kill-on-poison" and event.data.get("poison"):
                os._exit(70)
            await asyncio.sleep(3600)

        await bus.subscribe(Subscription("records", ["test.crash.#"], handler))
        print("consuming", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@dataclass
class Rig:
    url: str
    exchange: str
    db: Database
    schema: str

    def bus(self, **options: object) -> RabbitMQBus:
        return RabbitMQBus(
            self.url,
            exchange=self.exchange,
            queue_prefix=f"{self.exchange}.",
            prefetch=PREFETCH,
            dead_letter_poll_seconds=0.2,
            **options,  # type: ignore[arg-type]
        )

    async def consumer_process(self, mode: str, crash_limit: int) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CONSUMER,
            self.url,
            self.exchange,
            mode,
            str(crash_limit),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line.strip() == b"consuming"
        return process

    async def effects(self) -> list[str]:
        async with self.db.session() as session:
            rows = await session.execute(sa.text(f"SELECT event_id FROM {self.schema}.effects"))
            return [r[0] for r in rows]

    def healthy_handler(self) -> object:
        async def record(session: AsyncSession, event: CloudEvent) -> None:
            await session.execute(
                sa.text(f"INSERT INTO {self.schema}.effects (event_id) VALUES (:e)"),
                {"e": event.id},
            )

        return idempotent(self.db, self.schema, "records", record, service="crash")


@pytest.fixture
async def rig(amqp_url: str, db_url: str) -> AsyncIterator[Rig]:
    vhost = f"govhub-test-{uuid.uuid4().hex[:8]}"
    await rabbitmqctl("add_vhost", vhost)
    await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    schema = f"crash_{uuid.uuid4().hex[:8]}"
    db = Database(db_url, pool_size=4)
    metadata = sa.MetaData()
    inbox_table(metadata, schema)
    sa.Table("effects", metadata, sa.Column("event_id", sa.Text, nullable=False), schema=schema)
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        await conn.run_sync(metadata.create_all)
    try:
        yield Rig(amqp_url.rstrip("/") + "/" + vhost, "govhub.crash", db, schema)
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await db.close()
        await rabbitmqctl("delete_vhost", vhost)


async def kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    assert await process.wait() == -signal.SIGKILL


def events(n: int, **data: object) -> list[CloudEvent]:
    return [
        CloudEvent(source="govhub/test", type="test.crash", data={"n": i, **data}) for i in range(n)
    ]


async def test_a_crash_loop_with_a_full_prefetch_dead_letters_nothing(rig: Rig) -> None:
    publisher = rig.bus()
    await publisher.start()
    try:
        sent = events(PREFETCH + 8)
        await publisher.subscribe(Subscription("records", ["test.crash.#"], _never_called))
        await publisher.close()  # only the queue was wanted; its consumer goes
        publisher = rig.bus()
        await publisher.start()
        await publisher.publish(sent)
        for _ in range(CRASHES):
            consumer = await rig.consumer_process("hold", crash_limit=20)
            # Dies holding a full prefetch: each of those events is charged a delivery.
            await wait_for(lambda: _ready_is(publisher, len(sent) - PREFETCH), timeout=30)
            await kill(consumer)
            await wait_for(lambda: _ready_is(publisher, len(sent)), timeout=30)
        assert await publisher.dead_letter_count("records") == 0

        healthy = rig.bus()
        await healthy.start()
        try:
            await healthy.subscribe(
                Subscription("records", ["test.crash.#"], rig.healthy_handler())  # type: ignore[arg-type]
            )
            done = await wait_for(lambda: _all(rig, len(sent)), timeout=60)
            assert sorted(done) == sorted(e.id for e in sent)  # each exactly once
            assert await healthy.dead_letter_count("records") == 0
        finally:
            await healthy.close()
    finally:
        await publisher.close()


async def test_an_event_that_kills_its_consumer_is_parked_counted_alerted_and_redriven(
    rig: Rig, tmp_path: Path
) -> None:
    crash_limit = 2
    observer = rig.bus(crash_delivery_limit=crash_limit)
    await observer.start()
    try:
        await observer.subscribe(Subscription("records", ["test.crash.#"], _never_called))
        await observer.close()
        observer = rig.bus(crash_delivery_limit=crash_limit)
        await observer.start()
        (poison,) = events(1, poison=True)
        await observer.publish([poison])
        for _ in range(crash_limit + 1):  # the first delivery and `crash_limit` more
            consumer = await rig.consumer_process("kill-on-poison", crash_limit=crash_limit)
            assert await asyncio.wait_for(consumer.wait(), timeout=30) == 70

        (letter,) = await wait_for(lambda: observer.dead_letters("records"), timeout=30)
        assert letter.event_id == poison.id
        assert letter.type == "test.crash"
        assert "stopped while holding it" in letter.reason  # parked by the broker itself

        # Counted from the broker's own figure, though no handler of ours ever failed...
        await observer.subscribe(Subscription("records", ["test.crash.#"], _never_called))
        scraped = await wait_for(lambda: _dead_letter_series(rig.exchange), timeout=10)
        assert scraped.endswith(" 1.0")
        # ...and the chart's alert fires on that very series.
        _assert_alert_fires(scraped, tmp_path)

        await observer.close()
        healthy = rig.bus(crash_delivery_limit=crash_limit)
        await healthy.start()
        try:
            await healthy.subscribe(
                Subscription("records", ["test.crash.#"], rig.healthy_handler())  # type: ignore[arg-type]
            )
            assert await healthy.redrive("records", [poison.id]) == 1
            assert await wait_for(rig.effects, timeout=30) == [poison.id]
            assert await healthy.dead_letter_count("records") == 0
        finally:
            await healthy.close()
    finally:
        await observer.close()


async def _never_called(event: CloudEvent) -> None:
    await asyncio.sleep(3600)


async def _ready_is(bus: RabbitMQBus, n: int) -> bool:
    return await bus.backlog("records") == n


async def _all(rig: Rig, n: int) -> list[str] | None:
    done = await rig.effects()
    return done if len(done) >= n else None


def _dead_letter_series(exchange: str) -> str | None:
    for line in generate_latest().decode().splitlines():
        if line.startswith("govhub_bus_dead_letter_queue_messages{") and (
            'group="records"' in line
        ):
            return line if not line.endswith(" 0.0") else None
    return None


def _assert_alert_fires(series_line: str, work: Path) -> None:
    import shutil

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install it with `bash .ci/deploy-tools.sh`")
    rules = Path(__file__).resolve().parents[3] / "helm" / "govhub" / "rules" / "govhub-alerts.yaml"
    series, value = series_line.rsplit(" ", 1)
    labels = dict(
        part.split("=", 1) for part in series[series.index("{") + 1 : -1].split(",") if part
    )
    service = labels["service"].strip('"')
    import yaml

    (runbook,) = [
        rule["annotations"]["runbook_url"]
        for group in yaml.safe_load(rules.read_text())["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "GovhubBusDeadLetters"
    ]
    test = work / "scraped.test.yaml"
    test.write_text(
        textwrap.dedent(
            f"""
            rule_files: [{rules}]
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: '{series}'
                    values: '{float(value):g}x5'
                alert_rule_test:
                  - eval_time: 2m
                    alertname: GovhubBusDeadLetters
                    exp_alerts:
                      - exp_labels: {{severity: critical, service: {service}, group: records}}
                        exp_annotations:
                          runbook_url: "{runbook}"
                          summary: "{service} has dead-lettered events in consumer group records"
                          description: "{float(value):g} events wait in the dead-letter queue of consumer group records (as the broker counts them, however they got there). Their effect has not happened: list them with their reasons, fix the cause, then re-drive them (govhub events redrive)."
            """
        )
    )
    result = subprocess.run(
        [promtool, "test", "rules", str(test)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
