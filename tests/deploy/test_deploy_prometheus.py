"""A real Prometheus (Debian's `prometheus`) scraping a running hub with the chart's alert
rules: every dashboard query evaluates, every metric a rule or panel names has a series, and
induced faults (a target down, webhook dead letters, a subscriber that stops reading, a
burst of 5xx from a database outage) move their alerts to firing.

The hub is `govhub run` (all-in-one) in a subprocess on a free port, against a fresh
database on the machine's PostgreSQL; its traffic is the demo city's (govhub_demo) seeded
and replayed through the HTTP APIs. Prometheus scrapes every second. The test's copy of the
rules shortens durations only: every `for:` becomes 1s, and the 5 minutes of subscriber lag
become 10 seconds; thresholds on counts and ratios are the chart's.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from govhub_common import testing
from govhub_common.db import asyncpg_dsn
from govhub_common.testing import free_port
from tests.deploy.metric_names import dashboard_queries, queried_series, rule_queries
from tests.deploy.support import CHART, missing_tool

RULES = CHART / "rules" / "govhub-alerts.yaml"
OPERATOR_SECRET = "prometheus-test-operator-" + "s" * 16
JOB = "govhub"


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )
    if path is None:
        missing_tool(
            "prometheus not found: install it with `bash .ci/deploy-tools.sh` "
            "(Debian package prometheus)"
        )
    assert path is not None
    return path


def shortened_rules() -> str:
    """The chart's rules with their durations shortened (and nothing else changed)."""
    text = RULES.read_text(encoding="utf-8")
    text, n = re.subn(r"(?m)^(\s+for:) \d+[smh]$", r"\1 1s", text)
    assert n >= 10
    lag = "(govhub_exchange_subscription_lag_seconds) > 300"
    assert lag in text
    return text.replace(lag, "(govhub_exchange_subscription_lag_seconds) > 10")


def wait(predicate: Any, timeout: float, what: Any, interval: float = 0.5) -> Any:
    """Wait for predicate(); `what` (a string, or a callable that says what is missing
    now) names it on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(interval)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def query(self, expr: str) -> dict[str, Any]:
        reply = self.http.get("/api/v1/query", params={"query": expr})
        return dict(reply.json())

    def firing(self) -> dict[str, list[dict[str, str]]]:
        """alertname -> labels of each firing alert."""
        alerts = self.http.get("/api/v1/alerts").json()["data"]["alerts"]
        out: dict[str, list[dict[str, str]]] = {}
        for alert in alerts:
            if alert["state"] == "firing":
                out.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
        return out


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    admin = os.environ.get("GOVHUB_TEST_DATABASE_URL")
    if not admin:
        missing_tool("GOVHUB_TEST_DATABASE_URL is not set: this test needs a PostgreSQL")
    assert admin is not None
    url = asyncio.run(testing.create_test_database(admin, prefix="govhub_prom"))
    yield url
    asyncio.run(testing.drop_test_database(admin, url))


@pytest.fixture(scope="module")
def metrics_port() -> int:
    """The hub's metrics port, as the chart gives it one (GOVHUB_METRICS_PORT)."""
    return free_port()


@pytest.fixture(scope="module")
def hub_url(
    database_url: str, metrics_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("hub-home")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOVHUB_")},
        "GOVHUB_DATABASE_URL": database_url,
        "GOVHUB_HOME": str(home),
        "GOVHUB_OPERATOR_BOOTSTRAP_SECRET": OPERATOR_SECRET,
        "GOVHUB_LOG_LEVEL": "WARNING",
        "GOVHUB_METRICS_PORT": str(metrics_port),
        "GOVHUB_LAG_REFRESH_SECONDS": "1",
        # The dead webhook below is on 127.0.0.1, which the webhook policy denies by default.
        "GOVHUB_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        # One failed post dead-letters a webhook delivery.
        "GOVHUB_WEBHOOK_MAX_ATTEMPTS": "1",
        "GOVHUB_WEBHOOK_TIMEOUT_SECONDS": "2",
        "GOVHUB_WEBHOOK_POLL_SECONDS": "0.2",
        # SMS go out now, whatever the hour in Guangzhou.
        "GOVHUB_SMS_QUIET_HOURS_START": "",
    }
    govhub = str(Path(sys.executable).with_name("govhub"))
    log = home / "hub.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [govhub, "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait(ready, 120, "the hub to be ready")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def prometheus(
    hub_url: str, metrics_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    binary = prometheus_binary()
    work = tmp_path_factory.mktemp("prometheus")
    (work / "rules.yaml").write_text(shortened_rules(), encoding="utf-8")
    # As the chart's ServiceMonitor: the metrics port, not the API's (hub_url).
    hub_target = f"127.0.0.1:{metrics_port}"
    # A second govhub target that answers nothing: a pod that is down.
    dead_target = f"127.0.0.1:{free_port()}"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "rules.yaml")],
        "scrape_configs": [
            {
                "job_name": JOB,
                # As the chart's ServiceMonitor: govhub's own `service` label wins.
                "honor_labels": True,
                "static_configs": [
                    {"targets": [hub_target]},
                    {"targets": [dead_target], "labels": {"service": "exchange"}},
                ],
            }
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log = work / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        client = Prometheus(f"http://127.0.0.1:{port}")

        def up() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                return client.http.get("/-/ready").status_code == 200
            except httpx.HTTPError:
                return False

        wait(up, 60, "Prometheus to be ready")
        rules = client.http.get("/api/v1/rules").json()["data"]["groups"]
        loaded = {r["name"] for g in rules for r in g["rules"]}
        assert {name.split(": ", 1)[1] for name, _ in rule_queries()} <= loaded
        yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- traffic ---------------------------------------------------------------------------


async def city_traffic(url: str, secrets_dir: Path) -> dict[str, Any]:
    """The demo city's agencies, topics and subscriptions, six weeks of its records (feeds
    read, warnings raised, reminders sent) and an SMS; then one subscriber's webhook points
    nowhere while another city's records keep coming."""
    from govhub_demo.city import simulate
    from govhub_demo.city_files import GUANGZHOU, CityFiles
    from govhub_demo.client import HubClient
    from govhub_demo.scenario import MEASURED_TOPIC, Measurements, publish_day, replay

    hub = HubClient(url, OPERATOR_SECRET)
    try:
        city = await asyncio.to_thread(simulate, seed=2008, scale=0.002, days=45)
        files = CityFiles(GUANGZHOU, secrets_dir)
        measurements = await replay(hub, city, files)
        # A topic with a retention: the log's retention gauge has a series (at 0).
        await hub.call(
            "PATCH",
            f"/exchange/v1/topics/{MEASURED_TOPIC}",
            json={"retention": {"days": 3650, "legal_basis": "《企业信息公示暂行条例》第八条"}},
        )
        await hub.call(
            "POST",
            "/sms/v1/messages",
            json={
                "recipient": "+8613800138000",
                "template": "tax_registration_reminder",
                "params": {"name": "广州市某某科技有限公司", "deadline": "2030年7月20日"},
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
            ok=(201, 202),
        )
        # A subscriber whose webhook endpoint is gone: one failed post dead-letters.
        sub_id, agency = next(
            (sub, who)
            for sub, (who, topic) in measurements.subscriptions.items()
            if topic == MEASURED_TOPIC
        )
        await hub.call(
            "PUT",
            f"/exchange/v1/subscriptions/{sub_id}/webhook",
            agency,
            json={"url": f"http://127.0.0.1:{free_port()}/gone"},
        )
        more = await asyncio.to_thread(simulate, seed=2009, scale=0.002, days=20)
        for day in range(more.days):
            await publish_day(hub, more, files.topic_owners(), day, Measurements())
        return {"webhook_subscriber": agency, "token": await hub.token("operator")}
    finally:
        await hub.close()


# --- the test --------------------------------------------------------------------------


def substitute(expr: str) -> str:
    """A dashboard query as Grafana sends it with every variable at All."""
    expr = expr.replace("$__rate_interval", "1m").replace('"$job"', f'"{JOB}"')
    return re.sub(r"\$\{?[A-Za-z_]+\}?", ".*", expr)


@pytest.mark.slow
def test_prometheus_scrapes_the_hub_and_alerts_fire(
    hub_url: str, prometheus: Prometheus, database_url: str, tmp_path: Path
) -> None:
    traffic = asyncio.run(city_traffic(hub_url, tmp_path / "secrets"))
    asyncio.run(last_month_published(database_url, hub_url, traffic["token"]))

    # Prometheus has scraped the traffic.
    def scraped() -> bool:
        result = prometheus.query('sum(govhub_http_requests_total{route=~"/exchange/v1/.*"})')
        data = result["data"]["result"]
        return bool(data) and float(data[0]["value"][1]) > 50

    wait(scraped, 30, "the traffic in Prometheus")

    # Every metric a rule or panel names has a series (as Prometheus stores it).
    def missing_series() -> list[str]:
        missing = []
        for name in sorted(queried_series()):
            result = prometheus.query(f'count({{__name__="{name}", job="{JOB}"}})')
            assert result["status"] == "success", (name, result)
            if not result["data"]["result"]:
                missing.append(name)
        return missing

    wait(lambda: not missing_series(), 30, lambda: f"series of {missing_series()}")

    # Every dashboard query evaluates without error, and most return data (the others
    # chart failures that did not happen), once Prometheus holds a minute of samples.
    queries = list(dashboard_queries())

    def evaluate() -> tuple[list[str], list[str]]:
        failures, empty = [], []
        for where, expr in queries:
            variable = re.fullmatch(r"label_values\((\w+), (\w+)\)", expr)
            if variable:  # a variable's values, as Grafana asks Prometheus for them
                metric, label = variable.groups()
                result = prometheus.http.get(
                    f"/api/v1/label/{label}/values", params={"match[]": metric}
                ).json()
                if result.get("status") != "success":
                    failures.append(f"{where}: {expr}: {result.get('error')}")
                elif not result["data"]:
                    empty.append(where)
                continue
            result = prometheus.query(substitute(expr))
            if result.get("status") != "success":
                failures.append(f"{where}: {expr}: {result.get('error')}")
            elif not result["data"]["result"]:
                empty.append(where)
        assert not failures, "\n".join(failures)
        return failures, empty

    wait(
        lambda: len(evaluate()[1]) <= len(queries) // 4,
        90,
        lambda: f"dashboard queries with data (empty: {evaluate()[1]})",
        interval=2,
    )

    # The pod that answers nothing.
    firing = wait(
        lambda: (f := prometheus.firing()).get("GovhubTargetDown") and f, 30, "GovhubTargetDown"
    )
    assert all(a["service"] == "exchange" for a in firing["GovhubTargetDown"])

    # The webhook that points nowhere: its deliveries are dead-lettered.
    firing = wait(
        lambda: (f := prometheus.firing()).get("GovhubWebhookDeadLetters") and f,
        60,
        "GovhubWebhookDeadLetters",
    )
    assert {a["subscriber"] for a in firing["GovhubWebhookDeadLetters"]} == {
        traffic["webhook_subscriber"]
    }
    # Subscribers that stopped reading their feeds.
    firing = wait(
        lambda: (f := prometheus.firing()).get("GovhubSubscriberLagHigh") and f,
        60,
        "GovhubSubscriberLagHigh",
    )
    lagging = firing["GovhubSubscriberLagHigh"]
    assert all(a["subscription"] and a["topic"] for a in lagging)
    # Revoked, a subscription's lag series ends and its alert resolves (no frozen lag).
    revoked = lagging[0]["subscription"]
    reply = httpx.post(
        f"{hub_url}/exchange/v1/subscriptions/{revoked}/revoke",
        json={"reason": "the agency no longer needs it"},
        headers={"Authorization": f"Bearer {traffic['token']}"},
    )
    assert reply.status_code == 200, reply.text
    series = f'govhub_exchange_subscription_lag_seconds{{subscription="{revoked}"}}'
    wait(lambda: not prometheus.query(series)["data"]["result"], 30, "the lag series to end")
    wait(
        lambda: (
            revoked
            not in {
                a["subscription"] for a in prometheus.firing().get("GovhubSubscriberLagHigh", [])
            }
        ),
        30,
        "the revoked subscription's alert to resolve",
    )
    # Lag never reads below zero.
    negative = prometheus.query("min(govhub_exchange_subscription_lag_records) < 0")
    assert not negative["data"]["result"]
    # Nothing else is wrong.
    quiet = {"GovhubHigh5xxRatio", "GovhubBusDeadLetters", "GovhubOutboxBacklogStale",
             "GovhubBrokerDisconnected", "GovhubDatabaseGaugesUnexported",
             "GovhubTargetsAbsent", "GovhubSmsFailureRatioHigh",
             "GovhubScorecardNotPublished"}  # fmt: skip
    assert not quiet & set(prometheus.firing())

    # A database outage: every request that needs it fails, a burst of 5xx.
    asyncio.run(database_outage(database_url, hub_url, traffic["token"]))
    firing = wait(
        lambda: (f := prometheus.firing()).get("GovhubHigh5xxRatio") and f,
        60,
        "GovhubHigh5xxRatio",
    )
    assert "exchange" in {a["service"] for a in firing["GovhubHigh5xxRatio"]}


async def last_month_published(database_url: str, hub_url: str, token: str) -> None:
    """Last month's scorecards published, so that the scorecard gauges have series. In
    service the hub publishes a month once it has ended, and the traffic arrived today: its
    quality figures are moved into last month (as if it had arrived then), then the month is
    closed as the hub closes it each hour."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            # Days of arrival are Asia/Shanghai days. Today lands on the 15th of last month:
            # a shift of 14 days or more, longer than the traffic, so no row moves onto
            # another's key.
            shift = await conn.fetchval(
                "SELECT d - (date_trunc('month', d) - interval '1 month')::date - 14 "
                "FROM (SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date AS d) AS today"
            )
            for table in ("quality_days", "quality_delays", "quality_filled", "quality_faults",
                          "quality_webhook_days"):  # fmt: skip
                await conn.execute(f"UPDATE exchange.{table} SET day = day - $1::integer", shift)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=hub_url, timeout=120) as client:
        reply = await client.post(
            "/exchange/v1/scorecards/close",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["months"]) == 1 and reply.json()["scorecards"] > 0, reply.text


async def database_outage(database_url: str, hub_url: str, token: str) -> None:
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(asyncpg_dsn(database_url.rsplit("/", 1)[0] + "/postgres"))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=hub_url, timeout=10) as client:
            for _ in range(150):
                reply = await client.get(
                    "/exchange/v1/topics", headers={"Authorization": f"Bearer {token}"}
                )
                statuses.append(reply.status_code)
            ready = await client.get("/readyz")
        # Server errors all (see the report of issue 16: a database that refuses
        # connections, SQLSTATE 55000, answers 500 where an outage should answer 503).
        assert all(status >= 500 for status in statuses), statuses
        # The database is required: the pod leaves its Service while it is away.
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("failed")
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
