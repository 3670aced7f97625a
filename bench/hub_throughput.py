"""The whole hub measured (issue 21, point 4): records published through the HTTP API into
the four services as the Helm chart deploys them (split mode: one `govhub run --target`
process each, on RabbitMQ and the local PostgreSQL), until every record is

(a) in every feed: each approved subscription of the Guangzhou city read to its head, as the
    subscribing agency reads it (long-polled pages, every record once, in seq order);
(b) applied by the registry: its `govhub_registry_records_ingested_total` (its /metrics)
    stops at the records of the mapped topics;
(c) derived by alerting into facts and timers: its `alerting.facts` consumer has handled
    every record event (`govhub_bus_events_consumed_total`), and the hub is idle;

where "idle" is the operators' own check (`govhub events wait`, docs/operations.md): every
service's `GET /<prefix>/v1/events/status` answers idle twice in a row, i.e. its outbox is
published, its consumers' RabbitMQ queues are empty (a passive queue declaration's
message_count) and no handler is running. Every half second the backlog is sampled from
outside the services' busy event loops: each consumer queue's ready messages straight from
RabbitMQ (passive declarations), each service's unpublished outbox rows from its own table,
and the services' counters from their metrics ports (GOVHUB_METRICS_PORT, as the chart runs
them), which give the records the registry has yet to apply and the events alerting's facts
consumer has yet to handle (the queues' ready counts miss the 32 each consumer prefetches).

Two modes:
- `--mode stream` (default): N records of the city's topics (the simulated Guangzhou city,
  so the registry's mappings apply them and alerting's rules derive facts and timers),
  published by their owning agencies in 1,000-record batches by several concurrent
  publishers, as fast as the exchange accepts them.
- `--mode year`: `govhub demo --scale 1.0 --url ...` replays the full-scale year day by day
  against the same split hub (it settles after each day, so this is the replay's pace, not
  the hub's ceiling); every feed is read meanwhile.

The hub runs in simulation mode (`--simulate`): no scheduler follows the wall clock, so the
2008 timers are set and wait (the demo moves the clock itself in year mode, and reminders
then reach the SMS gateway; in stream mode nothing fires, so its queue stays empty).

Usage: .venv/bin/python bench/hub_throughput.py [--mode stream|year] [--records 200000]
       [--publishers 4] [--scale 1.0] [--days 365]
Env: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
     BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/).
Prints the figures and appends them to bench/results/hub-throughput.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from govhub_common.db import asyncpg_dsn
from govhub_common.security import generate_key_pair
from govhub_common.testing import (
    HubProcess,
    create_test_database,
    drop_test_database,
    free_port,
)
from govhub_demo.city import Record, simulate
from govhub_demo.city_files import GUANGZHOU, CityFiles
from govhub_demo.client import HubClient
from govhub_demo.scenario import at, seed

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "hub-throughput.md"
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_PREFIX = "govhub_bench_hub"
# The four services as the chart deploys them: target -> URL prefix.
SERVICES = {"exchange": "/exchange", "registry": "/registry", "alerting": "/alerting"}
SERVICES["sms-gateway"] = "/sms"
SCHEMAS = {"exchange": "exchange", "registry": "registry", "alerting": "alerting"}
SCHEMAS["sms-gateway"] = "sms"
BATCH = 1000
# Valid records of the simulated city at scale 1.0 (its size per unit of scale).
CITY_RECORDS_AT_SCALE_1 = 191_427
RECORD_EVENTS = "exchange.record.published"
DECEASED_EVENTS = "registry.person.deceased"
# The consumers of records, and the event types they handle.
RECORDS_CONSUMERS = {
    "registry.records": [RECORD_EVENTS],
    "alerting.facts": [RECORD_EVENTS, DECEASED_EVENTS],
}
TABLE_ROWS = 40  # at most this many rows of the backlog table


@dataclass
class Sample:
    """The hub as an operator sees it at one moment (seconds from the first publish)."""

    at: float
    accepted: int  # records the exchange has accepted so far
    feeds_read: int  # records read from the feeds so far, all subscriptions together
    outbox: dict[str, int]  # service -> events not yet published
    ready: dict[str, int]  # consumer group -> events ready in its RabbitMQ queue
    idle: bool | None  # every events status idle (asked only once the rest is done)
    consumed: dict[str, int]  # consumer group -> events handled (any outcome)
    failed: dict[str, int]  # consumer group -> events handled with outcome "failed"
    published: dict[str, int]  # event type -> events published with a broker confirm
    ingested: int  # records applied by the registry

    def behind(self, group: str) -> int:
        """Events a records consumer has yet to handle: those of its types published minus
        those it handled (the queue's ready count misses the prefetched ones)."""
        published = sum(self.published.get(t, 0) for t in RECORDS_CONSUMERS[group])
        return published - self.consumed.get(group, 0)


@dataclass
class Run:
    """What one run measured."""

    t0: float = 0.0  # perf_counter of the first publish
    accepted: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # per topic
    publish_calls: int = 0
    publish_end: float | None = None  # seconds from t0 when the last publish was accepted
    publishing_done: asyncio.Event = field(default_factory=asyncio.Event)
    feed_read: dict[int, int] = field(default_factory=dict)  # subscription -> records read
    feed_done: dict[int, float] = field(default_factory=dict)  # subscription -> seconds
    feed_topic: dict[int, tuple[str, str]] = field(default_factory=dict)  # -> (agency, topic)
    samples: list[Sample] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average at each sample
    cpu: list[CpuTimes] = field(default_factory=list)  # at the first publish, and at the end

    def since_start(self) -> float:
        return time.perf_counter() - self.t0 if self.t0 else 0.0


@dataclass
class CpuTimes:
    """CPU seconds spent so far: the whole machine (every core, from /proc/stat), each of
    the hub's processes, and this bench (publishers, feed readers, sampling). The rest of
    the machine's is PostgreSQL's and RabbitMQ's, on a machine running nothing else."""

    machine: float
    processes: dict[str, float]
    bench: float

    @classmethod
    def now(cls, split: SplitHub) -> CpuTimes:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat", encoding="ascii") as stat:
            # user nice system idle iowait irq softirq steal: busy is all but idle and iowait
            jiffies = [int(v) for v in stat.readline().split()[1:9]]
        busy = sum(jiffies) - jiffies[3] - jiffies[4]
        processes = {}
        for target, hub_process in split.processes.items():
            assert hub_process.process is not None
            stat_line = Path(f"/proc/{hub_process.process.pid}/stat").read_text("ascii")
            after_name = stat_line.rsplit(")", 1)[1].split()  # fields 3... of proc(5)
            processes[target] = (int(after_name[11]) + int(after_name[12])) / ticks
        own = os.times()
        return cls(busy / ticks, processes, own.user + own.system)


def cpu_lines(run: Run, records: int, elapsed: float) -> list[str]:
    """Where the CPU went between the first publish and the end, per record."""
    if len(run.cpu) < 2:
        return []
    first, last = run.cpu[0], run.cpu[-1]
    machine = last.machine - first.machine
    spent = {t: last.processes[t] - first.processes[t] for t in last.processes}
    bench = last.bench - first.bench
    rest = machine - sum(spent.values()) - bench
    cores = os.cpu_count() or 1
    per_record_ms = 1000 * (machine - bench) / records
    parts = ", ".join(f"{t} {v:.1f} s" for t, v in spent.items())
    return [
        f"- CPU: {machine:.1f} s busy of {cores} cores over {elapsed:.1f} s "
        f"({100 * machine / (cores * elapsed):.0f}%): {parts}, PostgreSQL and RabbitMQ "
        f"{rest:.1f} s, this bench {bench:.1f} s. The hub's cost: **{per_record_ms:.2f} ms "
        f"of CPU a record** fully processed, so 10,000 records/s needs about "
        f"{per_record_ms * 10:.0f} cores busy at this cost",
    ]


# The hub -------------------------------------------------------------------------------------


class SplitHub:
    """The four services, one `govhub run --simulate --target ...` process each, on RabbitMQ,
    sharing the token keys and the operator's bootstrap secret (as the chart shares them)."""

    def __init__(self, database_url: str, work: Path) -> None:
        keys = generate_key_pair()
        (work / "private.pem").write_bytes(keys.private_pem or b"")
        (work / "public.pem").write_bytes(keys.public_pem)
        self.events = f"{DATABASE_PREFIX}.{uuid.uuid4().hex[:8]}"
        self.operator_secret = uuid.uuid4().hex
        env: dict[str, str | None] = {
            "GOVHUB_AMQP_URL": AMQP_URL,
            "GOVHUB_AMQP_EXCHANGE": self.events,
            "GOVHUB_AMQP_QUEUE_PREFIX": f"{self.events}.",
            "GOVHUB_AMQP_DELETE_QUEUES_AT_STOP": "true",  # leave the shared broker as found
            "GOVHUB_JWT_PRIVATE_KEY_FILE": str(work / "private.pem"),
            "GOVHUB_JWT_PUBLIC_KEY_FILE": str(work / "public.pem"),
            "GOVHUB_OPERATOR_BOOTSTRAP_SECRET": self.operator_secret,
            "GOVHUB_SIMULATE": None,  # --simulate says it
        }
        # As the chart runs them: /metrics on a port of its own, served from a thread, so a
        # scrape is answered while the API is busy.
        self.metrics_ports = {target: free_port() for target in SERVICES}
        self.processes = {
            target: HubProcess(
                database_url,
                target=target,
                env={**env, "GOVHUB_METRICS_PORT": str(self.metrics_ports[target])},
                args=["--simulate"],
            )
            for target in SERVICES
        }

    @property
    def url(self) -> str:
        """One base URL per prefix, as `govhub demo --url` and HubClient take them."""
        return ",".join(f"{SERVICES[t]}={p.url}" for t, p in self.processes.items())

    async def start(self) -> None:
        await asyncio.gather(*(p.start(timeout=180) for p in self.processes.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes.values()))


# Sampling --------------------------------------------------------------------------------------


def read_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text -> sample name -> [(labels, value)]."""
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name].append((sample.labels, sample.value))
    return found


class Sampler:
    """Samples the hub every `interval` s, from outside its busy event loops: each consumer
    queue's ready messages straight from RabbitMQ (passive declarations, as
    `GET /events/status` reads them), each service's unpublished outbox rows from its own
    table, and the services' counters from their metrics ports. The events status (which
    also counts the handlers running) is asked once the rest is done, for the end."""

    def __init__(self, hub: HubClient, split: SplitHub, database_url: str, run: Run) -> None:
        self.hub = hub
        self.split = split
        self.database_url = database_url
        self.run = run
        self.groups: list[str] = []
        self.http = httpx.AsyncClient(timeout=30)
        self.db: asyncpg.Connection | None = None
        self.broker: aio_pika.abc.AbstractConnection | None = None

    async def open(self) -> None:
        self.db = await asyncpg.connect(asyncpg_dsn(self.database_url))
        self.broker = await aio_pika.connect(AMQP_URL)
        statuses, _ = await self.statuses()
        self.groups = sorted(c["group"] for s in statuses for c in s["consumers"])

    async def close(self) -> None:
        await self.http.aclose()
        if self.db is not None:
            await self.db.close()
        if self.broker is not None:
            await self.broker.close()

    async def statuses(self) -> tuple[list[dict[str, Any]], bool]:
        statuses = [
            (await self.hub.call("GET", f"{prefix}/v1/events/status")).json()
            for prefix in SERVICES.values()
        ]
        return statuses, all(s["idle"] for s in statuses)

    async def ready(self) -> dict[str, int]:
        assert self.broker is not None
        found = {}
        # A channel of its own each time, as the services' backlog() does: a channel that
        # declared a queue before answers from what it remembers.
        async with self.broker.channel() as channel:
            for group in self.groups:
                queue = await channel.declare_queue(f"{self.split.events}.{group}", passive=True)
                found[group] = int(queue.declaration_result.message_count or 0)
        return found

    async def outboxes(self) -> dict[str, int]:
        assert self.db is not None
        row = await self.db.fetchrow(
            "SELECT "
            + ", ".join(
                f'(SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL) AS "{service}"'
                for service, schema in SCHEMAS.items()
            )
        )
        assert row is not None
        return {service: int(row[service]) for service in SCHEMAS}

    async def metrics(self) -> list[dict[str, list[tuple[dict[str, str], float]]]]:
        async def one(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
            return read_metrics((await self.http.get(f"http://127.0.0.1:{port}/metrics")).text)

        return list(
            await asyncio.gather(*(one(port) for port in self.split.metrics_ports.values()))
        )

    async def sample(self) -> Sample:
        run = self.run
        at = run.since_start()
        accepted = sum(run.accepted.values())
        feeds_read = sum(run.feed_read.values())
        ready, outbox, metrics = await asyncio.gather(self.ready(), self.outboxes(), self.metrics())
        consumed: dict[str, int] = defaultdict(int)
        failed: dict[str, int] = defaultdict(int)
        published: dict[str, int] = defaultdict(int)
        ingested = exchange_records = 0
        for found in metrics:
            for labels, value in found["govhub_bus_events_consumed_total"]:
                consumed[labels["group"]] += int(value)
                if labels["outcome"] == "failed":
                    failed[labels["group"]] += int(value)
            for labels, value in found["govhub_bus_events_published_total"]:
                published[labels["type"]] += int(value)
            ingested += sum(int(v) for _, v in found["govhub_registry_records_ingested_total"])
            exchange_records += sum(
                int(v) for _, v in found["govhub_exchange_records_published_total"]
            )
        return Sample(
            at=at,
            # Stream mode counts the publish replies; year mode reads the exchange's counter.
            accepted=accepted if run.accepted else exchange_records,
            feeds_read=feeds_read,
            outbox=outbox,
            ready=ready,
            idle=None,
            consumed=dict(consumed),
            failed=dict(failed),
            published=dict(published),
            ingested=ingested,
        )

    def looks_idle(self, sample: Sample) -> bool:
        baseline = self.run.samples[0]
        return (
            not any(sample.outbox.values())
            and not any(sample.ready.values())
            # Stream mode: every topic is mapped, so the registry applies every record.
            and (
                not self.run.accepted
                or sample.ingested - baseline.ingested >= sample.accepted - baseline.accepted
            )
            and all(sample.behind(g) <= baseline.behind(g) for g in RECORDS_CONSUMERS)
        )

    async def until_settled(self, interval: float, others_done: asyncio.Event) -> float:
        """Samples until the other work is done and the hub answers idle twice in a row
        (`govhub events wait`); returns the moment (seconds from t0) of the first of those
        two answers, by which everything had been processed."""
        quiet_since: float | None = None
        quiet = 0
        while True:
            started = time.perf_counter()
            sample = await self.sample()
            self.run.samples.append(sample)
            # The events status goes through the services' event loops, slow while they are
            # busy: asked only when the rest is done and the outside view shows nothing left.
            if others_done.is_set() and self.looks_idle(sample):
                sample.idle = (await self.statuses())[1]
            self.run.loads.append(os.getloadavg()[0])
            if sample.idle:
                quiet += 1
                quiet_since = sample.at if quiet_since is None else quiet_since
                if quiet == 2:
                    return quiet_since
            else:
                quiet, quiet_since = 0, None
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))


# Feeds --------------------------------------------------------------------------------------


async def read_feed(hub: HubClient, run: Run, sub_id: int, agency: str, topic: str) -> None:
    """Reads a subscription's feed as its agency does (long-polled pages, checked to come in
    seq order, each record once) until publishing is over and the feed is at the head: in
    stream mode exactly the records accepted on the topic, in year mode a page that says
    `caught_up` once the demo has ended."""
    run.feed_read[sub_id] = 0
    run.feed_topic[sub_id] = (agency, topic)
    counted = bool(run.accepted)  # stream mode: the publish replies say what to expect
    last_seq = 0
    position: str | None = None

    def all_read() -> bool:
        if not (counted and run.publishing_done.is_set()):
            return False
        read, expected = run.feed_read[sub_id], run.accepted[topic]
        if read > expected:
            raise AssertionError(f"feed {sub_id} ({topic}): {read} read, {expected} published")
        return read == expected

    while not all_read():
        params: dict[str, Any] = {"limit": 5000, "wait": 2}
        if position is not None:
            params["cursor"] = position
        poll = asyncio.ensure_future(
            hub.call("GET", f"/exchange/v1/subscriptions/{sub_id}/records", agency, params=params)
        )
        if not run.publishing_done.is_set():
            # A long poll on a topic whose records have all arrived ends when publishing does.
            publishing = asyncio.ensure_future(run.publishing_done.wait())
            await asyncio.wait({poll, publishing}, return_when=asyncio.FIRST_COMPLETED)
            publishing.cancel()
            if not poll.done() and all_read():
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
                break
        page = orjson.loads((await poll).content)
        seqs = [r["seq"] for r in page["data"]]
        if seqs and (seqs[0] <= last_seq or seqs != sorted(set(seqs))):
            raise AssertionError(f"feed {sub_id} ({topic}): seqs out of order after {last_seq}")
        last_seq = seqs[-1] if seqs else last_seq
        run.feed_read[sub_id] += len(seqs)
        position = page["position"]
        if not counted and run.publishing_done.is_set() and page["caught_up"]:
            break
    run.feed_done[sub_id] = run.since_start()


# Stream mode ---------------------------------------------------------------------------------


def stream_records(n: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """The first n valid records of the simulated city in the order they happen, as
    (topic, 1,000-record batch) in the order their first record happens."""
    scale = n / CITY_RECORDS_AT_SCALE_1 * 1.02
    while True:
        city = simulate(seed=2008, scale=scale, days=365)
        if city.valid_records() >= n:
            break
        scale *= 1.1
    chosen: list[tuple[int, Record]] = []
    for day_index in sorted(city.published):
        for record in city.published[day_index]:
            if not record.invalid and len(chosen) < n:
                chosen.append((day_index, record))
    by_topic: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for day_index, record in chosen:
        day = record.business_date or city.start + timedelta(days=day_index)
        body = {"record_id": record.record_id, "data": record.data, "business_time": at(day, 10)}
        by_topic[record.topic].append((day_index, body))
    batches: list[tuple[int, str, list[dict[str, Any]]]] = []
    for topic, items in by_topic.items():
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            batches.append((chunk[0][0], topic, [body for _, body in chunk]))
    batches.sort(key=lambda b: b[0])
    return [(topic, bodies) for _, topic, bodies in batches]


async def publish_stream(
    hub: HubClient,
    run: Run,
    batches: list[tuple[str, bytes, int]],
    owners: dict[str, str],
    publishers: int,
) -> None:
    queue: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def publisher() -> None:
        while not queue.empty():
            topic, body, size = queue.get_nowait()
            reply = await hub.call(
                "POST",
                f"/exchange/v1/topics/{topic}/records",
                owners[topic],
                content=body,
                headers={"content-type": "application/json"},
            )
            counts = orjson.loads(reply.content)["counts"]
            if counts["accepted"] != size:
                raise AssertionError(f"{topic}: {counts} of {size} records")
            run.accepted[topic] += size
            run.publish_calls += 1

    await asyncio.gather(*(publisher() for _ in range(publishers)))
    run.publish_end = run.since_start()
    run.publishing_done.set()


async def stream_mode(
    hub: HubClient, sampler: Sampler, run: Run, args: argparse.Namespace, work: Path
) -> float:
    batches = [
        (topic, orjson.dumps(bodies), len(bodies)) for topic, bodies in stream_records(args.records)
    ]
    files = CityFiles(GUANGZHOU, work / "secrets")
    subscriptions = await seed(hub, files)
    owners = files.topic_owners()
    for topic, _, _ in batches:
        run.accepted.setdefault(topic, 0)
    await hub.settle()  # the city's catalog events handled before the clock starts
    run.samples.append(await sampler.sample())  # the baseline, at 0 s
    run.cpu.append(CpuTimes.now(sampler.split))
    run.t0 = time.perf_counter()
    readers_done = asyncio.Event()
    sampling = asyncio.create_task(sampler.until_settled(args.sample_seconds, readers_done))
    readers = [
        asyncio.create_task(read_feed(hub, run, sub_id, agency, topic))
        for sub_id, (agency, topic) in subscriptions.items()
    ]
    await publish_stream(hub, run, batches, owners, args.publishers)
    await asyncio.gather(*readers)
    readers_done.set()
    end = max(await sampling, *run.feed_done.values())
    run.cpu.append(CpuTimes.now(sampler.split))
    return end


# Year mode -----------------------------------------------------------------------------------


async def wait_for_city(
    hub: HubClient, work: Path, demo: asyncio.subprocess.Process
) -> dict[int, tuple[str, str]]:
    """The city's approved subscriptions, once the demo has applied the city, with each
    subscriber's credentials from the secrets `govhub apply` wrote for the demo."""
    files = CityFiles(GUANGZHOU, work / "demo-home" / "demo-secrets")
    wanted = {(s["subscriber"], s["topic"]) for s in files.specs("Subscription")}
    clients = {spec["agency"]: spec["client_id"] for spec in files.specs("Client")}
    while demo.returncode is None:
        found = {
            sub["id"]: (sub["subscriber"], sub["topic"])
            for sub in await hub.pages("/exchange/v1/subscriptions", role="any", status="approved")
            if (sub["subscriber"], sub["topic"]) in wanted
        }
        secrets = {a: files.secrets_dir / f"{clients[a]}.secret" for a, _ in wanted}
        if set(found.values()) == wanted and all(p.exists() for p in secrets.values()):
            for agency, path in secrets.items():
                hub.credentials[agency] = (clients[agency], path.read_text().strip())
            return found
        await asyncio.sleep(1)
    raise RuntimeError("the demo ended before the city was applied")


async def year_mode(
    hub: HubClient,
    sampler: Sampler,
    split: SplitHub,
    run: Run,
    args: argparse.Namespace,
    work: Path,
) -> tuple[float, dict[str, Any]]:
    home = work / "demo-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVHUB_")}
    env.update(
        GOVHUB_HOME=str(home),
        GOVHUB_OPERATOR_BOOTSTRAP_SECRET=split.operator_secret,
        GOVHUB_LOG_LEVEL="WARNING",
    )
    report = work / "demo-report.md"
    log = (work / "demo.log").open("wb")
    run.samples.append(await sampler.sample())  # the baseline, at 0 s
    run.t0 = time.perf_counter()
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "govhub_common.cli", "demo",
        "--scale", str(args.scale), "--days", str(args.days), "--seed", "2008",
        "--url", split.url, "--report", str(report),
        env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    everything_else_done = asyncio.Event()
    sampling = asyncio.create_task(sampler.until_settled(args.sample_seconds, everything_else_done))
    subscriptions = await wait_for_city(hub, work, demo)
    readers = [
        asyncio.create_task(read_feed(hub, run, sub_id, agency, topic))
        for sub_id, (agency, topic) in subscriptions.items()
    ]
    code = await demo.wait()
    log.close()
    run.publish_end = run.since_start()
    run.publishing_done.set()
    if code != 0:
        for reader in readers:
            reader.cancel()
        sampling.cancel()
        tail = (work / "demo.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"govhub demo exited {code}:\n{tail}")
    await asyncio.gather(*readers)
    everything_else_done.set()
    end = max(await sampling, *run.feed_done.values())
    figures: dict[str, Any] = orjson.loads(report.with_suffix(".json").read_bytes())
    return end, figures


# Report --------------------------------------------------------------------------------------


def finish_times(run: Run, baseline: Sample) -> list[tuple[str, float, int]]:
    """Per consumer group that handled anything in the run: the first sample at which its
    count of handled events had reached its final value, and that many events."""
    final = run.samples[-1]
    found = []
    for group, total in sorted(final.consumed.items()):
        handled = total - baseline.consumed.get(group, 0)
        if handled <= 0:
            continue
        when = next(s.at for s in run.samples if s.consumed.get(group, 0) >= total)
        found.append((group, when, handled))
    return found


def backlog_table(run: Run, baseline: Sample) -> list[str]:
    queues = sorted(
        {g for s in run.samples for g, n in s.ready.items() if n > 0}
        | {"registry.records", "alerting.facts"}
    )
    outboxes = sorted({svc for s in run.samples for svc, n in s.outbox.items() if n > 0})
    head = ["t s", "accepted", "feeds read", "registry behind"]
    head += [f"{group} behind" for group in RECORDS_CONSUMERS]
    head += [f"{svc} outbox" for svc in outboxes] + [f"{g} queue" for g in queues] + ["idle"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    step = max(1, math.ceil(len(run.samples) / TABLE_ROWS))
    rows = run.samples[::step]
    if rows[-1] is not run.samples[-1]:
        rows.append(run.samples[-1])
    for s in rows:
        cells = [
            f"{s.at:.1f}",
            f"{s.accepted:,}",
            f"{s.feeds_read:,}",
            f"{s.accepted - (s.ingested - baseline.ingested):,}",
        ]
        # The exchange counts an event published once confirmed, which may be after a
        # consumer has handled it: a moment's negative reads as none behind.
        cells += [f"{max(0, s.behind(g) - baseline.behind(g)):,}" for g in RECORDS_CONSUMERS]
        cells += [str(s.outbox.get(svc, 0)) for svc in outboxes]
        cells += [str(s.ready.get(g, 0)) for g in queues]
        cells.append({True: "yes", False: "no", None: ""}[s.idle])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


async def tables_check(database_url: str) -> list[str]:
    """What the services' own tables hold at the end (alerting's facts and timers)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        facts = await conn.fetch(
            "SELECT topic, count(*) AS n FROM alerting.facts GROUP BY topic ORDER BY topic"
        )
        timers = await conn.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE fired_at IS NULL AND cancelled_at "
            "IS NULL) AS pending, count(*) FILTER (WHERE cancelled_at IS NOT NULL) AS cancelled, "
            "count(*) FILTER (WHERE fired_at IS NOT NULL) AS fired FROM alerting.timers"
        )
        warnings = await conn.fetchval("SELECT count(*) FROM alerting.warnings")
    finally:
        await conn.close()
    assert timers is not None
    return [
        "alerting.facts by topic: "
        + ", ".join(f"{r['topic']} {r['n']:,}" for r in facts)
        + f" (total {sum(r['n'] for r in facts):,})",
        f"alerting.timers: {timers['total']:,} set ({timers['pending']:,} pending, "
        f"{timers['cancelled']:,} cancelled by the awaited record, {timers['fired']:,} fired); "
        f"warnings {warnings:,}",
    ]


def seconds(moment: float) -> str:
    """A finish time; year mode's city setup (catalog events) comes before the first record."""
    return f"{moment:.1f} s" if moment >= 0 else "before the first record"


def report(
    args: argparse.Namespace,
    run: Run,
    end: float,
    checks: list[str],
    load_before: tuple[float, float, float],
    figures: dict[str, Any] | None,
) -> list[str]:
    baseline, final = run.samples[0], run.samples[-1]
    accepted = final.accepted
    hub_own = 0  # year mode: records the hub published itself (warnings, scorecards)
    if figures is not None:
        accepted = figures["records_accepted"]
        hub_own = final.accepted - baseline.accepted - accepted
    # Year mode: the clock starts with the demo, which first simulates the city and applies
    # it; its first record was published after the last sample that saw none.
    start = 0.0
    if args.mode == "year":
        start = max(s.at for s in run.samples if s.accepted <= baseline.accepted)
    publish_end = (run.publish_end or end) - start
    end -= start
    load_after = os.getloadavg()
    lines = [
        f"## {args.mode} mode, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; load average "
        f"before {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}, during "
        f"{min(run.loads):.2f}-{max(run.loads):.2f} (1 min), after {load_after[0]:.2f}",
        "- hub: split mode, four `govhub run --simulate --target X` processes (exchange, "
        "registry, alerting, sms-gateway) on RabbitMQ (quorum queues) and PostgreSQL, "
        "the Guangzhou city applied",
    ]
    if args.mode == "stream":
        lines.append(
            f"- stream: {accepted:,} records of {len(run.accepted)} topics in "
            f"{run.publish_calls:,} batches of up to {BATCH:,}, {args.publishers} concurrent "
            "publishers (each topic by its owning agency)"
        )
    else:
        assert figures is not None
        lines.append(
            f"- year: `govhub demo --scale {args.scale} --days {args.days}` over HTTP, "
            f"{figures['records_accepted']:,} records accepted "
            f"({figures['records_rejected']:,} faulty ones rejected on purpose) in "
            f"{figures['elapsed_seconds']:.1f} s of replay by the demo's clock "
            f"({figures['records_accepted'] / figures['elapsed_seconds']:,.0f} records/s); "
            f"every rule exact: {figures['rules_exact']}; besides them the exchange published "
            f"{hub_own:,} records of the hub's own topics (warnings, scorecards), in the feeds "
            "but not counted below"
        )
    lines += [
        f"- records published: **{accepted:,}**; publish rate (HTTP accepted): "
        f"**{accepted / publish_end:,.0f} records/s** over {publish_end:.1f} s",
        f"- fully processed (every feed read to its head, registry applied, alerting's facts and "
        f"timers derived, every outbox and queue empty): **{accepted / end:,.0f} records/s**, "
        f"{end:.1f} s from the first publish",
        *cpu_lines(run, accepted, end),
        "",
        "Finished (seconds from the first publish):",
        "",
    ]
    for sub_id, when in sorted(run.feed_done.items(), key=lambda x: x[1]):
        agency, topic = run.feed_topic[sub_id]
        lines.append(
            f"- feed {sub_id} {agency} <- {topic}: {run.feed_read[sub_id]:,} records, {when - start:.1f} s"
        )
    ingested = final.ingested - baseline.ingested
    when = next(s.at for s in run.samples if s.ingested >= final.ingested)
    lines.append(f"- registry applied {ingested:,} records: {seconds(when - start)}")
    for group, when, handled in finish_times(run, baseline):
        failed = final.failed.get(group, 0) - baseline.failed.get(group, 0)
        lines.append(
            f"- consumer {group}: {handled:,} events, {seconds(when - start)}"
            + (f", {failed} FAILED" if failed else "")
        )
    for service in final.outbox:
        busy = [s.at for s in run.samples if s.outbox.get(service, 0) > 0]
        if busy:
            lines.append(f"- {service} outbox last seen non-empty at {max(busy) - start:.1f} s")
    record_events = final.published.get(RECORD_EVENTS, 0) - baseline.published.get(RECORD_EVENTS, 0)
    deaths = final.published.get(DECEASED_EVENTS, 0) - baseline.published.get(DECEASED_EVENTS, 0)

    def handled_by(group: str) -> int:
        return final.consumed.get(group, 0) - baseline.consumed.get(group, 0)

    lines += [
        "",
        "Checks at the end:",
        "",
        f"- events: the exchange published {record_events:,} record events, registry.records "
        f"handled {handled_by('registry.records'):,}; alerting.facts handled "
        f"{handled_by('alerting.facts'):,} of {record_events:,} + {deaths:,} "
        "registry.person.deceased",
        f"- registry applied {ingested:,} records of {accepted:,} accepted"
        + ("" if args.mode == "year" else " (every topic of the stream is mapped)"),
        *(f"- {c}" for c in checks),
        "",
        "Backlog over time. Records: accepted by the exchange, read from the feeds (all "
        "subscriptions together), not yet applied by the registry (accepted minus its "
        "`govhub_registry_records_ingested_total`; in year mode this keeps the records of "
        "the hub's own topics, which the registry does not map). Events (each up to 1,000 records): "
        "registry.records and alerting.facts behind (record and death events published "
        "minus those each handled, from the metrics), each service's outbox rows not yet published, and each consumer "
        "queue's ready messages in RabbitMQ (a passive declaration; prefetched ones are not "
        "counted there). idle: every `GET /<prefix>/v1/events/status` idle (asked once "
        "publishing and the feeds were done).",
        "",
        *backlog_table(run, baseline),
        "",
    ]
    return lines


# Main --------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mode", choices=["stream", "year"], default="stream")
    parser.add_argument("--records", type=int, default=200_000, help="stream mode")
    parser.add_argument("--publishers", type=int, default=4, help="stream mode: concurrent")
    parser.add_argument("--scale", type=float, default=1.0, help="year mode")
    parser.add_argument("--days", type=int, default=365, help="year mode")
    parser.add_argument("--sample-seconds", type=float, default=0.5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    database_url = await create_test_database(ADMIN_URL, DATABASE_PREFIX)
    work = Path(tempfile.mkdtemp(prefix="govhub-bench-hub-"))
    split = SplitHub(database_url, work)
    figures: dict[str, Any] | None = None
    try:
        await split.start()
        hub = HubClient(split.url, split.operator_secret)
        run = Run()
        sampler = Sampler(hub, split, database_url, run)
        try:
            await sampler.open()
            if args.mode == "stream":
                end = await stream_mode(hub, sampler, run, args, work)
            else:
                end, figures = await year_mode(hub, sampler, split, run, args, work)
            checks = await tables_check(database_url)
        finally:
            await sampler.close()
            await hub.close()
    finally:
        await split.stop()
        await drop_test_database(ADMIN_URL, database_url)
        shutil.rmtree(work, ignore_errors=True)
    lines = report(args, run, end, checks, load_before, figures)
    print("\n".join(lines))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
