"""The Guangzhou year end to end: `govhub demo` replays a city through the HTTP APIs and its
report must match the simulator's ground truth exactly (every warning deserved, none
missed, and each data-quality fault the simulator injected found again in the agencies'
scorecards, exactly and nowhere else), in split mode (four processes on RabbitMQ, as the
Helm chart runs them) and in all-in-one mode."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from govhub_common.city.format import kind_specs
from govhub_common.db import asyncpg_dsn, with_database
from govhub_common.testing import drop_test_database, free_port
from govhub_demo.city_files import GUANGZHOU
from govhub_demo.scenario import MEASURED_TOPIC

GOVHUB = [sys.executable, "-m", "govhub_common.cli"]
SERVICES = {
    "exchange": "/exchange",
    "registry": "/registry",
    "alerting": "/alerting",
    "sms-gateway": "/sms",
}

pytestmark = pytest.mark.timeout(1800)


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVHUB_")}
    env.update(GOVHUB_HOME=str(home), GOVHUB_LOG_LEVEL="WARNING", **extra)
    return env


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout}s")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_demo(args: list[str], env: dict[str, str], report: Path) -> dict:
    result = subprocess.run(
        [*GOVHUB, "demo", *args, "--report", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert report.with_suffix(".json").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(report.with_suffix(".json").read_text())
    assert result.returncode == 0, report.read_text()
    return figures


async def assert_every_subscriber_was_served_every_record(database_url: str) -> None:
    """Each approved subscriber of the flagship topic had every record from its feed: the
    position its stats give (delivered_seq) is the topic's head. How soon (the report's
    "delivered within one minute") is a measurement: bench/demo_year.py's report."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT s.subscriber, s.delivered_seq, t.head_seq FROM exchange.subscriptions s "
            "JOIN exchange.topics t ON t.code = s.topic_code "
            "WHERE s.topic_code = $1 AND s.status = 'approved'",
            MEASURED_TOPIC,
        )
    finally:
        await conn.close()
    assert {r["subscriber"] for r in rows} >= {"gz-qts", "gz-ltax", "gz-ntax"}, rows
    assert all(r["head_seq"] > 0 and r["delivered_seq"] == r["head_seq"] for r in rows), rows


def assert_matches_ground_truth(figures: dict) -> None:
    # Every record accepted but the ones sent faulty on purpose.
    assert figures["records_accepted"] == figures["records_truth"]
    assert figures["records_accepted"] + figures["records_rejected"] == figures["records_published"]
    for rule, score in figures["rules"].items():
        assert (score["precision"], score["recall"]) == (1.0, 1.0), (rule, score)
    assert figures["rules_exact"] is True
    tax = figures["stats"]["tax_registration_missing"]
    assert tax["triggers"] == figures["enterprises"]
    assert tax["warnings_raised"] == figures["rules"]["tax_registration_missing"]["expected"]
    # The city has late registrants, fraud and duplicates: the rules had something to find.
    for rule in (
        "tax_registration_missing",
        "pension_after_death",
        "duplicate_relief",
        "sms_reminder_day_20",
    ):
        assert figures["rules"][rule]["expected"] > 0, rule
    assert_faults_found_again(figures)
    assert figures["all_exact"] is True


def assert_faults_found_again(figures: dict) -> None:
    """Each injected fault shows in the scorecards of the replayed period with the figure
    the injection implies, and no other agency or topic has a rejected or late record."""
    faults = {f["fault"]: f for f in figures["faults"]}
    assert list(faults) == [
        "late arrivals",
        "bad check characters",
        "conflicting addresses",
        "no other rejected or late record",
    ]
    for fault in faults.values():
        assert fault["found"] == fault["expected"], fault
        assert fault["exact"] is True
    assert figures["faults_exact"] is True
    late = faults["late arrivals"]
    assert (late["agency"], late["topic"]) == ("gz-qts", "quality_code_assigned")
    # Three days and two hours late, in buckets of a day.
    assert late["found"]["delay_p50_seconds"] == late["found"]["delay_p95_seconds"] == 259_200
    assert late["found"]["dated"] > 0 and late["found"]["same_day"] == 0
    bad = faults["bad check characters"]
    assert (bad["agency"], bad["topic"]) == ("gz-hrss", "pension_paid")
    assert bad["found"]["rejected"] == figures["records_rejected"] > 0
    assert abs(bad["found"]["rejected_share"] - 0.05) < 0.005
    top = bad["found"]["faults"][0]
    assert (top["item"], top["rule"]) == ("id_number", "format")
    assert top["records"] == figures["records_rejected"]
    conflicts = faults["conflicting addresses"]
    assert conflicts["agency"] == "gz-ltax"
    assert conflicts["found"]["agency"] == conflicts["found"]["topic"] > 0
    assert faults["no other rejected or late record"]["found"] == {"rejected": 0, "late": 0}

    # The scorecard table: every agency of the city, best grade first.
    cards = figures["scorecards"]
    agencies = {spec["code"] for _, spec in kind_specs(GUANGZHOU, "Agency")}
    assert {c["agency"] for c in cards} == agencies
    grades = [c["grade"] if c["grade"] is not None else -1 for c in cards]
    assert grades == sorted(grades, reverse=True)
    by_agency = {c["agency"]: c for c in cards}
    assert by_agency["gz-qts"]["timeliness"] == 0.0  # none of its records within a day
    # pension_paid is all gz-hrss sends
    rejected, received = bad["found"]["rejected"], bad["found"]["received"]
    assert by_agency["gz-hrss"]["validity"] == round(100 * (1 - rejected / received), 2)
    assert by_agency["gz-amr"]["grade"] == 100.0  # the authority: on time, valid, undisputed

    # Every month that ended by the morning after the last day went to hub_scorecards.
    assert figures["scorecard_months"] == months_ended(figures["days"])


def months_ended(days: int) -> list[str]:
    """The months of 2008 that ended by the day after a replay of `days` days."""
    after = date(2008, 1, 1) + timedelta(days=days)
    return [f"2008-{m:02d}" for m in range(1, 13) if date(2008, m, 1) < after.replace(day=1)]


def test_a_year_in_split_mode_on_rabbitmq(
    processes: list[subprocess.Popen[bytes]], fresh_db_url: str, amqp_url: str, tmp_path: Path
) -> None:
    exchange = f"govhub.test.{uuid.uuid4().hex[:8]}"
    env = base_env(
        tmp_path / "home",
        GOVHUB_DATABASE_URL=fresh_db_url,
        GOVHUB_AMQP_URL=amqp_url,
        GOVHUB_AMQP_EXCHANGE=exchange,
        GOVHUB_AMQP_QUEUE_PREFIX=f"{exchange}.",
        GOVHUB_AMQP_DELETE_QUEUES_AT_STOP="true",
    )
    urls = {}
    for target, prefix in SERVICES.items():
        port = free_port()
        proc = subprocess.Popen(
            # Simulation mode: no scheduler follows the wall clock; the demo drives time.
            [*GOVHUB, "run", "--simulate", "--target", target, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        processes.append(proc)
        urls[prefix] = f"http://127.0.0.1:{port}"
    for proc, url in zip(processes, urls.values(), strict=True):
        wait_ready(url, proc)
    figures = run_demo(
        # about 2,000 new enterprises over the year
        [
            "--scale",
            "0.06",
            "--days",
            "365",
            "--seed",
            "2008",
            "--url",
            ",".join(f"{p}={u}" for p, u in urls.items()),
        ],
        env,
        tmp_path / "split.md",
    )
    assert figures["enterprises"] >= 2000
    assert_matches_ground_truth(figures)
    asyncio.run(assert_every_subscriber_was_served_every_record(fresh_db_url))


async def test_a_shorter_year_all_in_one(admin_db_url: str, tmp_path: Path) -> None:
    database = f"govhub_e2e_{uuid.uuid4().hex[:8]}"
    env = base_env(tmp_path / "home", GOVHUB_DATABASE_URL=admin_db_url)
    try:
        figures = await asyncio.to_thread(
            run_demo,
            [
                "--scale",
                "0.02",
                "--days",
                "150",
                "--seed",
                "7",
                "--port",
                str(free_port()),
                "--database",
                database,
            ],
            env,
            tmp_path / "allinone.md",
        )
        assert_matches_ground_truth(figures)
        await assert_every_subscriber_was_served_every_record(with_database(admin_db_url, database))
    finally:
        await drop_test_database(admin_db_url, with_database(admin_db_url, database))
