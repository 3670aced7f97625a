"""Two replicas on one database export the gauges read from it once: a `sum` over the
replicas is the figure itself. When the exporting replica dies, the other takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from govhub_common import testing
from govhub_common.testing import free_port
from tests.deploy.support import missing_tool

# Read from the database, one per service (docs/metrics.md, *database*).
DATABASE_GAUGES = (
    "govhub_registry_conflicts_open",
    "govhub_alerting_timers_pending",
    "govhub_sms_queue_depth",
    'govhub_outbox_pending_events{service="exchange"}',
)


@pytest.fixture
def database_url() -> Iterator[str]:
    admin = os.environ.get("GOVHUB_TEST_DATABASE_URL")
    if not admin:
        missing_tool("GOVHUB_TEST_DATABASE_URL is not set: this test needs a PostgreSQL")
    assert admin is not None
    url = asyncio.run(testing.create_test_database(admin, prefix="govhub_replicas"))
    yield url
    asyncio.run(testing.drop_test_database(admin, url))


class Replica:
    def __init__(self, database_url: str, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GOVHUB_")},
            "GOVHUB_DATABASE_URL": database_url,
            "GOVHUB_HOME": str(home),
            "GOVHUB_OPERATOR_BOOTSTRAP_SECRET": "replica-test-operator-secret-000",
            "GOVHUB_LOG_LEVEL": "WARNING",
        }
        self.log = home / "hub.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("govhub")), "run", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # a crash: no clean release
        self.proc.wait()


def exports(text: str, series: str) -> bool:
    return any(line.startswith(series + " ") or line.startswith(series + "{") for line in
               text.splitlines())  # fmt: skip


def exporter(text: str, service: str) -> str | None:
    prefix = f'govhub_database_gauges_exporter{{service="{service}"}} '
    return next(
        (line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)), None
    )


def wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.mark.slow
def test_database_gauges_are_exported_by_one_replica(database_url: str, tmp_path: Path) -> None:
    first = Replica(database_url, tmp_path / "a")
    wait(first.ready, 120, "the first replica")
    second = Replica(database_url, tmp_path / "b")
    try:
        wait(second.ready, 120, "the second replica")
        a, b = first.metrics(), second.metrics()
        for service in ("registry", "exchange", "alerting", "sms-gateway", "console"):
            assert (exporter(a, service), exporter(b, service)) == ("1.0", "0.0"), service
        for series in DATABASE_GAUGES:
            assert exports(a, series), series
            assert not exports(b, series), series
        # Per-process series stay on both.
        for text in (a, b):
            assert exports(text, "govhub_bus_connected")
            assert exports(text, "govhub_http_requests_total")

        first.stop()

        def took_over() -> bool:
            text = second.metrics()
            return exporter(text, "registry") == "1.0" and all(
                exports(text, series) for series in DATABASE_GAUGES
            )

        # The lock dies with the first replica's connection; the second checks every 5 s.
        wait(took_over, 60, "the second replica to export the database gauges")
    finally:
        first.stop()
        second.stop()
