"""Split mode as the chart runs it: the exchange, alerting and the console each in their own
process on RabbitMQ, sharing the token keys and the console's client secret. A person signs
in to the console's process, whose pages then call the other processes over HTTP with the
person's token."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from pathlib import Path

import httpx

from govhub_common.security import generate_key_pair
from govhub_common.testing import HubProcess
from tests.common.support import GOVHUB, clean_env
from tests.console.support import csrf_of


async def test_a_person_signs_in_to_a_console_running_apart_from_the_services(
    fresh_db_url: str, amqp_url: str, tmp_path: Path
) -> None:
    keys = generate_key_pair()
    (tmp_path / "private.pem").write_bytes(keys.private_pem or b"")
    (tmp_path / "public.pem").write_bytes(keys.public_pem)
    events = f"govhub.test.{uuid.uuid4().hex[:8]}"
    shared = {
        "GOVHUB_AMQP_URL": amqp_url,
        "GOVHUB_AMQP_EXCHANGE": events,
        "GOVHUB_AMQP_QUEUE_PREFIX": f"{events}.",
        "GOVHUB_AMQP_DELETE_QUEUES_AT_STOP": "true",
        "GOVHUB_JWT_PRIVATE_KEY_FILE": str(tmp_path / "private.pem"),
        "GOVHUB_JWT_PUBLIC_KEY_FILE": str(tmp_path / "public.pem"),
        "GOVHUB_OPERATOR_BOOTSTRAP_SECRET": uuid.uuid4().hex,
        # Each process has its own GOVHUB_HOME: a generated secret would differ.
        "GOVHUB_CONSOLE_CLIENT_SECRET": uuid.uuid4().hex,
    }
    exchange = HubProcess(fresh_db_url, target="exchange", env=shared)
    alerting = HubProcess(fresh_db_url, target="alerting", env=shared)
    console = HubProcess(
        fresh_db_url,
        target="console",
        env={
            **shared,
            "GOVHUB_CONSOLE_HUB_URL": f"/exchange={exchange.url},/alerting={alerting.url}",
            # Plain http on loopback: no Secure cookie (production refuses this).
            "GOVHUB_CONSOLE_COOKIE_SECURE": "false",
        },
    )
    try:
        for process in (exchange, alerting, console):
            await process.start()
        added = await asyncio.to_thread(
            subprocess.run,
            [*GOVHUB, "console", "account", "add", "--username", "ops", "--agency",
             "gz-datacenter", "--role", "operator", "--name", "值班员"],
            env=clean_env(GOVHUB_HOME=str(console.home), GOVHUB_DATABASE_URL=fresh_db_url),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        found = re.search(r"\(shown once\): (\S+)", added.stdout)
        assert found, added.stdout
        async with httpx.AsyncClient(
            base_url=console.url, headers={"Origin": console.url}, timeout=30
        ) as browser:
            page = await browser.get("/console/login")
            signed_in = await browser.post(
                "/console/login",
                data={"username": "ops", "password": found.group(1), "csrf": csrf_of(page.text)},
            )
            assert signed_in.status_code == 303, signed_in.text
            home = await browser.get("/console/")
            assert home.status_code == 200
            assert "值班员" in home.text
            # The scopes come from the exchange's whoami, answered by the exchange's process
            # to the person's token.
            assert "<code>operator</code>" in home.text
    finally:
        for process in (console, alerting, exchange):
            await process.stop()
