"""Test support shared by every service's tests: real PostgreSQL and RabbitMQ, never mocks.

- PostgreSQL: GOVHUB_TEST_DATABASE_URL if set; under CI the machine's server on
  127.0.0.1:5432; otherwise the embedded server under .govhub-test/. Each test session gets
  a fresh database, dropped at the end.
- RabbitMQ: GOVHUB_TEST_AMQP_URL or amqp://guest:guest@127.0.0.1:5672/. Under CI a missing
  broker fails the tests that need it; elsewhere they skip with one line saying how to run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
from fastapi import FastAPI

from govhub_common.db import asyncpg_dsn, with_database
from govhub_common.persons import CONSOLE_CLIENT_ID, PersonClaims
from govhub_common.runtime import ALL, Runtime, create_app
from govhub_common.security import TokenIssuer
from govhub_common.settings import CommonSettings

CI_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def admin_database_url(work_dir: Path) -> str:
    configured = os.environ.get("GOVHUB_TEST_DATABASE_URL")
    if configured:
        return configured
    if in_ci():
        return CI_DATABASE_URL
    from govhub_common.embedded import start_embedded_postgres

    server, url = start_embedded_postgres(work_dir)
    _keep_alive.append(server)
    return url


_keep_alive: list[Any] = []


async def create_test_database(admin_url: str, prefix: str = "govhub_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_test_database(admin_url: str, url: str) -> None:
    name = urlparse(asyncpg_dsn(url)).path.lstrip("/").split("?")[0]
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def amqp_url() -> str:
    return os.environ.get("GOVHUB_TEST_AMQP_URL", DEFAULT_AMQP_URL)


def broker_reachable(url: str, timeout: float = 1.0) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 5672), timeout
        ):
            return True
    except OSError:
        return False


async def rabbitmqctl(*args: str) -> str:
    """The broker's own admin command (virtual hosts, permissions, dropped connections)."""
    done = await asyncio.to_thread(
        subprocess.run, ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr}")
    return done.stdout


BROKER_MISSING = (
    "RabbitMQ is not reachable at {url}; start it (rabbitmq-server -detached) or set "
    "GOVHUB_TEST_AMQP_URL to run the broker tests"
)


class Hub:
    """A running app (all-in-one or one target) with an HTTP client and a token helper."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime

    def token(
        self,
        agency: str,
        scopes: Iterable[str],
        *,
        ttl_seconds: int = 900,
        person: PersonClaims | None = None,
    ) -> str:
        """A token of the agency; with `person`, a person's token as the console gets it
        (client `console`)."""
        issuer = TokenIssuer(
            self.runtime.keys,
            issuer=self.runtime.settings.jwt_issuer,
            audience=self.runtime.settings.jwt_audience,
        )
        client_id = CONSOLE_CLIENT_ID if person is not None else None
        return issuer.issue(
            agency, scopes, ttl_seconds=ttl_seconds, person=person, client_id=client_id
        )

    def auth(self, agency: str, *scopes: str, person: PersonClaims | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(agency, scopes, person=person)}"}

    def operator(self) -> dict[str, str]:
        return self.auth("hub", "operator")

    async def wait_idle(self, timeout: float = 40.0) -> dict[str, Any]:
        """The documented wait of a simulation (docs/operations.md): `GET /events/status`
        answers idle twice in a row (every outbox published, every consumer queue empty, no
        handler running); returns that status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while True:
            reply = await self.client.get("/events/status", headers=self.operator())
            assert reply.status_code == 200, reply.text
            status: dict[str, Any] = reply.json()
            quiet = quiet + 1 if status["idle"] else 0
            if quiet == 2:
                return status
            if loop.time() > deadline:
                raise TimeoutError(f"the hub did not settle in {timeout}s: {status}")
            await asyncio.sleep(0.02)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every service's outbox is published (events handed to the bus)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = 0
            async with self.runtime.db.session() as session:
                from sqlalchemy import text

                for spec in self.runtime.services.values():
                    pending += (
                        await session.execute(
                            text(f"SELECT count(*) FROM {spec.schema}.outbox WHERE sent_at IS NULL")
                        )
                    ).scalar_one()
            if pending == 0:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"{pending} outbox events still unpublished after {timeout}s")
            for relay in self.runtime.relays.values():
                relay.wake()
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running_hub(
    database_url: str,
    *,
    target: str = ALL,
    settings: CommonSettings | None = None,
    base_url: str = "http://testserver",
) -> AsyncIterator[Hub]:
    app = create_app(target, database_url=database_url, settings=settings or CommonSettings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            yield Hub(app, client)


async def every_page(hub: Hub, url: str, headers: dict[str, str], **params: Any) -> list[Any]:
    """Every item of a list (docs/contracts.md, Pagination), one page after the other,
    checking each page's shape and size: full pages until the last, `next` null there."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        reply = await hub.client.get(url, params=query, headers=headers)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert set(page) == {"data", "next"}
        assert len(page["data"]) <= params["limit"]
        items += page["data"]
        cursor = page["next"]
        if cursor is None:
            return items
        assert len(page["data"]) == params["limit"]


def plan_scans(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """Every scan node of an EXPLAIN (FORMAT JSON) plan that reads `table` (a table or a
    partition whose name starts with it) or one of its indexes: what a statement read there."""
    names = (plan.get("Relation Name", ""), plan.get("Index Name", ""))
    reads = plan["Node Type"].endswith("Scan") and any(n.startswith(table) for n in names)
    return ([plan] if reads else []) + [
        node for child in plan.get("Plans", []) for node in plan_scans(child, table)
    ]


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll an async or sync predicate until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


class OwnPostgres:
    """A PostgreSQL cluster of a test's own, from the machine's server binaries, that the
    test may stop and start (the shared server must stay up for every other test).

    As root the server runs as the `postgres` user: PostgreSQL refuses to run as root."""

    def __init__(self) -> None:
        # Under /tmp, which the postgres user can reach (a test's tmp_path may not be).
        work_dir = Path(tempfile.mkdtemp(prefix="govhub-own-pg-"))
        self.data = work_dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"
        self.bin = server_binaries()
        self._work_dir = work_dir

    def _run(self, *args: str) -> None:
        command = [*args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self._work_dir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._work_dir} "
            "-c fsync=off -c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
            str(self._work_dir / "server.log"), "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self._work_dir, ignore_errors=True)


def server_binaries() -> Path:
    """The newest PostgreSQL server of the machine's (Debian's /usr/lib/postgresql/N/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1].parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """`govhub run` as a real server on a free loopback port, on its own GOVHUB_HOME: for
    tests that need HTTP as clients see it (fuzzing, generated clients, crashes)."""

    def __init__(
        self,
        database_url: str,
        *,
        target: str = ALL,
        env: dict[str, str | None] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        """`env` adds to the test's environment; a None value removes a variable."""
        import sys

        self.home = Path(tempfile.mkdtemp(prefix="govhub-hub-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.target = target
        self.args = list(args)  # more `govhub run` options (e.g. --simulate)
        merged: dict[str, str | None] = {
            **os.environ,
            "GOVHUB_HOME": str(self.home),
            "GOVHUB_DATABASE_URL": database_url,
            "GOVHUB_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.env = {name: value for name, value in merged.items() if value is not None}
        self.govhub = str(Path(sys.executable).parent / "govhub")
        self.log = self.home / "hub.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> None:
        import atexit

        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [self.govhub, "run", "--target", self.target, "--port", str(self.port), *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # A test run that is cut short leaves no hub holding database connections.
        atexit.register(self.process.kill)

    async def start(self, timeout: float = 90.0) -> None:
        self._spawn()

        async def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited: {self.log.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(ready, timeout=timeout, interval=0.2)

    def operator_secret(self) -> str:
        return (self.home / "operator-secret").read_text().strip()

    async def token(self, client_id: str, secret: str, scopes: Iterable[str] = ()) -> str:
        form = {"grant_type": "client_credentials"}
        if scopes:
            form["scope"] = " ".join(scopes)
        async with httpx.AsyncClient(base_url=self.url) as client:
            reply = await client.post(
                "/exchange/v1/oauth/token", data=form, auth=(client_id, secret)
            )
        reply.raise_for_status()
        return str(reply.json()["access_token"])

    async def operator_and_agency_tokens(
        self, agency: str, name: str, scopes: Iterable[str]
    ) -> dict[str, str]:
        """Tokens of the operator and of a new agency's client holding `scopes`, by role."""
        operator = await self.token("operator", self.operator_secret())
        async with httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {operator}"}
        ) as client:
            reply = await client.post("/exchange/v1/agencies", json={"code": agency, "name": name})
            reply.raise_for_status()
            reply = await client.post(
                f"/exchange/v1/agencies/{agency}/clients",
                json={"client_id": f"{agency}-app", "scopes": sorted(scopes)},
            )
            reply.raise_for_status()
            secret = reply.json()["client_secret"]
        return {"operator": operator, "agency": await self.token(f"{agency}-app", secret)}

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.home, ignore_errors=True)


@asynccontextmanager
async def bus_tap(amqp_url: str, exchange: str) -> AsyncIterator[list[Any]]:
    """Every event published on `exchange` while open, as CloudEvents in arrival order: an
    exclusive queue bound to `#`, as an outside consumer of the bus would see them."""
    import aio_pika

    from govhub_common.events import CloudEvent

    seen: list[CloudEvent] = []
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        topic = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(topic, routing_key="#")

        async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                seen.append(CloudEvent.from_json(message.body))

        await queue.consume(keep)
        yield seen
    finally:
        await connection.close()


def published_record(
    data: dict[str, Any],
    *,
    seq: int,
    record_id: str | None = None,
    version: int = 1,
    business_time: str | None = None,
    published_at: str | None = None,
) -> dict[str, Any]:
    """One record of an exchange.record.published event, as the exchange writes it."""
    from datetime import UTC, datetime

    return {
        "seq": seq,
        "record_id": record_id or f"r-{seq}",
        "version": version,
        "topic_version": 1,
        "business_time": business_time,
        "published_at": published_at or datetime.now(UTC).isoformat(),
        "data": data,
    }


def records_published(topic: str, publisher: str, records: list[dict[str, Any]]) -> Any:
    """An exchange.record.published event as the exchange stages it, checked against its
    contract (govhub_common.event_contracts), for the tests and benchmarks of its consumers:
    `records` as published_record gives them."""
    from govhub_common.event_contracts.exchange import RecordsPublished
    from govhub_common.events import CloudEvent

    data = RecordsPublished.model_validate(
        {
            "topic": topic,
            "topic_version": 1,
            "publisher": publisher,
            "batch_id": str(uuid.uuid4()),
            "counts": {"accepted": len(records), "duplicates": 0, "rejected": 0},
            "records": records,
        }
    )
    return CloudEvent(
        source="govhub/exchange",
        type="exchange.record.published",
        subject=topic,
        routing_suffix=topic,
        data=data.model_dump(mode="json"),
    )
