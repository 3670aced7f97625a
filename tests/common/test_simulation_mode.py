"""`govhub run --simulate` and `govhub events wait`, as an operator uses them from a shell."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from govhub_common.settings import CommonSettings
from govhub_common.testing import HubProcess, create_test_database, drop_test_database

GOVHUB = str(Path(sys.executable).parent / "govhub")


@pytest.fixture(scope="module")
async def simulated_hub(admin_db_url: str) -> AsyncIterator[HubProcess]:
    url = await create_test_database(admin_db_url)
    process = HubProcess(url, args=["--simulate"])
    try:
        await process.start()
        yield process
    finally:
        await process.stop()
        await drop_test_database(admin_db_url, url)


async def test_a_hub_run_with_simulate_follows_the_time_it_is_driven_to(
    simulated_hub: HubProcess,
) -> None:
    operator = await simulated_hub.token("operator", simulated_hub.operator_secret())
    headers = {"Authorization": f"Bearer {operator}"}
    async with httpx.AsyncClient(base_url=simulated_hub.url, headers=headers) as client:
        status = (await client.get("/events/status")).json()
        assert status["clock"]["simulated"] is True
        reply = await client.post(
            "/alerting/v1/evaluate", json={"as_of": "2008-03-15T23:59:59+08:00"}
        )
        assert reply.status_code == 200, reply.text
        for path in ("/events/status", "/alerting/v1/events/status"):
            clock = (await client.get(path)).json()["clock"]
            assert clock == {"simulated": True, "now": "2008-03-15T15:59:59+00:00"}, path
        # The SMS gateway's clock is its own: moved by its own dispatch.
        reply = await client.post("/sms/v1/dispatch", json={"as_of": "2008-03-16T09:30:00+08:00"})
        assert reply.status_code == 200, reply.text
        clock = (await client.get("/sms/v1/events/status")).json()["clock"]
        assert clock["now"] == "2008-03-16T01:30:00+00:00"


async def test_events_wait_returns_once_the_hub_has_settled(simulated_hub: HubProcess) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [
            GOVHUB,
            "events",
            "wait",
            "--url",
            simulated_hub.url,
            "--client-secret",
            simulated_hub.operator_secret(),
            "--timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "settled" in done.stdout


def test_production_refuses_simulation_mode(tmp_path: Path) -> None:
    key = tmp_path / "public.pem"
    key.write_text("unused")
    with pytest.raises(ValidationError, match="GOVHUB_SIMULATE"):
        CommonSettings(
            environment="production",
            database_url="postgresql://db/govhub",
            jwt_public_key_file=key,
            simulate=True,
        )
