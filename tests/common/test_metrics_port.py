"""/metrics on a port of its own (GOVHUB_METRICS_PORT): Prometheus scrapes it without a
token, while the API port, which an Ingress may expose, answers 404 for /metrics (issue 15,
point 13: the metrics name agencies, subscriptions and topics)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx

from govhub_common.testing import HubProcess, free_port, wait_for
from tests.common.support import GOVHUB, clean_env

API_METRICS_PATHS = ("/metrics", "/registry/metrics", "/exchange/metrics", "/sms/metrics")


async def test_metrics_are_served_on_their_own_port_only(fresh_db_url: str) -> None:
    metrics_port = free_port()
    hub = HubProcess(fresh_db_url, env={"GOVHUB_METRICS_PORT": str(metrics_port)})
    try:
        await hub.start()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{hub.url}/registry/healthz")).status_code == 200
            for path in API_METRICS_PATHS:
                answer = await client.get(f"{hub.url}{path}")
                assert answer.status_code == 404, path
            scraped = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
            # The same registry the API port served before: the API's own requests.
            assert 'govhub_http_requests_total{method="GET",route="/registry/healthz"' in (
                scraped.text.replace('service="govhub",', "")
            )
            # Only /metrics: nothing else of the hub on this port.
            for path in ("/", "/readyz", "/registry/v1/persons", "/metrics/x"):
                other = await client.get(f"http://127.0.0.1:{metrics_port}{path}")
                assert other.status_code == 404, path
    finally:
        await hub.stop()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([*GOVHUB, "run", *args], env=env, stdout=out, stderr=out)


async def test_every_worker_serves_the_metrics_port(fresh_db_url: str, tmp_path: Path) -> None:
    """`govhub run --workers N` shares the metrics port between its workers as it shares
    the API port (each scrape reads one worker's figures)."""
    metrics_port, port = free_port(), free_port()
    env = clean_env(
        GOVHUB_HOME=str(tmp_path),
        GOVHUB_DATABASE_URL=fresh_db_url,
        GOVHUB_METRICS_PORT=str(metrics_port),
    )
    log = tmp_path / "hub.log"
    process = _spawn(["--port", str(port), "--workers", "2"], env, log)
    try:
        # Both workers up (the second binding the metrics port beside the first).
        await wait_for(
            lambda: (
                log.read_text().count("Application startup complete") == 2
                or process.poll() is not None
            ),
            timeout=180,
            interval=0.2,
        )
        assert process.poll() is None, log.read_text()[-3000:]
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/metrics")).status_code == 404
            for _ in range(10):
                scraped = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
                assert scraped.status_code == 200
                assert "govhub_http_requests_total" in scraped.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
