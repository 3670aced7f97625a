"""schemathesis, with every check, over each service's committed OpenAPI document against a
running hub: as an operator and as an agency. No 5xx, no undocumented status code or
content type, no response outside its schema, no valid request refused, no invalid one
taken. The number of examples is bounded so CI stays within its time; the seed is fixed,
so a failure reproduces."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from govhub_common.testing import HubProcess, create_test_database, drop_test_database

REPO = Path(__file__).resolve().parents[2]
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
SERVICES = {
    "exchange": "/exchange",
    "registry": "/registry",
    "alerting": "/alerting",
    "sms-gateway": "/sms",
}
AGENCY_SCOPES = [
    "exchange:publish",
    "exchange:subscribe",
    "exchange:catalog",
    "registry:read",
    "alerting:read",
    "alerting:work",
    "sms:send",
]
MAX_EXAMPLES = 8
SEED = 2008


class FuzzedHub:
    def __init__(self, process: HubProcess, tokens: dict[str, str]) -> None:
        self.process = process
        self.tokens = tokens


@pytest.fixture(scope="module")
async def fuzzed_hub(admin_db_url: str) -> AsyncIterator[FuzzedHub]:
    url = await create_test_database(admin_db_url)
    # No SMS leaves a fuzzed hub, and no clock-driven sweep changes what it is asked.
    process = HubProcess(url, env={"GOVHUB_SMS_SENDER_ENABLED": "false"})
    try:
        await process.start()
        tokens = await process.operator_and_agency_tokens("gz-fuzz", "模糊测试局", AGENCY_SCOPES)
        yield FuzzedHub(process, tokens)
    finally:
        await process.stop()
        await drop_test_database(admin_db_url, url)


@pytest.mark.parametrize("who", ["operator", "agency"])
@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_schemathesis_finds_nothing(fuzzed_hub: FuzzedHub, service: str, who: str) -> None:
    document = REPO / "docs" / "openapi" / f"{service}.json"
    command = [
        SCHEMATHESIS,
        # The few relaxations, each for named operations with its reason.
        "--config-file",
        str(REPO / "schemathesis.toml"),
        "run",
        str(document),
        "--url",
        fuzzed_hub.process.url + SERVICES[service],
        "--header",
        f"Authorization: Bearer {fuzzed_hub.tokens[who]}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--no-shrink",
        "--generation-deterministic",
        "--request-timeout",
        "30",
    ]
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=REPO,  # where schemathesis.toml's paths are
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, "\n".join(output.splitlines()[-150:])
