"""`govhub run` as a user runs it: the embedded default, and one service alone (split mode)."""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from govhub_common.testing import free_port, wait_for
from tests.common.support import GOVHUB, clean_env


class Server:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*GOVHUB, "run", "--port", str(self.port), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 90) -> None:
        async def probe() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(self.output())
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.base}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(probe, timeout=timeout, interval=0.2)

    def stop(self, sig: int = signal.SIGINT) -> str:
        """Signal the server and return its output; fails unless it shut down cleanly.

        uvicorn re-raises the signal after a graceful shutdown, so the exit status is the
        signal's (or 0/130 for Ctrl-C, 128 + signal on the embedded default, which exits
        through SystemExit to stop its PostgreSQL), and the log says the application shut
        down."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        output = self.output()
        assert code in (0, 130, -sig, 128 + sig), output
        assert "Application shutdown complete" in output, output
        assert "Traceback" not in output, output
        return output

    def output(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stdout is not None
        return self.proc.stdout.read().decode(errors="replace")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def test_a_split_target_refuses_to_start_without_a_broker(tmp_path: Path) -> None:
    result = subprocess.run(
        [*GOVHUB, "run", "--target", "exchange"],
        env=clean_env(GOVHUB_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "GOVHUB_AMQP_URL" in result.stderr
    assert "Traceback" not in result.stderr


async def test_one_service_runs_alone_against_postgresql_and_rabbitmq(
    servers: list[Server], fresh_db_url: str, amqp_url: str, tmp_path: Path
) -> None:
    exchange = f"govhub.test.{uuid.uuid4().hex[:8]}"
    env = clean_env(
        GOVHUB_HOME=str(tmp_path),
        GOVHUB_DATABASE_URL=fresh_db_url,
        GOVHUB_AMQP_URL=amqp_url,
        GOVHUB_AMQP_EXCHANGE=exchange,
        GOVHUB_AMQP_QUEUE_PREFIX=f"{exchange}.",
        GOVHUB_AMQP_DELETE_QUEUES_AT_STOP="true",
    )
    server = Server(["--target", "exchange"], env)
    servers.append(server)
    await server.ready()
    async with httpx.AsyncClient(base_url=server.base) as client:
        ready = (await client.get("/readyz")).json()
        assert ready["checks"] == {"database": "ok", "broker": "ok"}
        assert (await client.get("/exchange/openapi.json")).status_code == 200
        assert (await client.get("/registry/openapi.json")).status_code == 404
        assert (await client.get("/exchange/v1/whoami")).status_code == 401
    server.stop(signal.SIGTERM)
    conn = await asyncpg.connect(fresh_db_url)
    try:
        schemas = {
            r[0] for r in await conn.fetch("SELECT schema_name FROM information_schema.schemata")
        }
    finally:
        await conn.close()
    assert "exchange" in schemas
    assert "registry" not in schemas  # a split process migrates only its own schema


async def test_the_embedded_default_serves_everything_and_keeps_its_data(
    servers: list[Server], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = clean_env(GOVHUB_HOME=str(home))
    first = Server([], env)
    servers.append(first)
    await first.ready()
    async with httpx.AsyncClient(base_url=first.base) as client:
        for prefix in ("/registry", "/exchange", "/alerting", "/sms"):
            assert (await client.get(f"{prefix}/openapi.json")).status_code == 200
    socket_dir = home / "pgdata"
    conn = await asyncpg.connect(user="postgres", database="govhub", host=str(socket_dir.resolve()))
    try:
        await conn.execute("CREATE TABLE public.marker (note text)")
        await conn.execute("INSERT INTO public.marker VALUES ('kept')")
    finally:
        await conn.close()
    first.stop(signal.SIGINT)  # Ctrl-C stops cleanly, the embedded PostgreSQL with it
    assert not (socket_dir / "postmaster.pid").exists()

    second = Server([], env)
    servers.append(second)
    await second.ready()
    conn = await asyncpg.connect(user="postgres", database="govhub", host=str(socket_dir.resolve()))
    try:
        assert await conn.fetchval("SELECT note FROM public.marker") == "kept"
    finally:
        await conn.close()
    second.stop(signal.SIGTERM)  # as a service manager stops it: PostgreSQL stops too
    assert not (socket_dir / "postmaster.pid").exists()


async def test_several_worker_processes_serve_one_port(
    servers: list[Server], fresh_db_url: str, tmp_path: Path
) -> None:
    env = clean_env(GOVHUB_HOME=str(tmp_path), GOVHUB_DATABASE_URL=fresh_db_url)
    server = Server(["--workers", "2"], env)
    servers.append(server)
    await server.ready()
    async with httpx.AsyncClient(base_url=server.base) as client:
        for _ in range(10):
            assert (await client.get("/registry/healthz")).status_code == 200
    output = server.stop(signal.SIGTERM)
    # uvicorn's process manager started two workers, each migrating and serving.
    assert output.count("Application startup complete") == 2
