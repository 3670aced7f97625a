"""Alerting fixtures: business years per test and captures of what alerting emits."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

# The simulation drives time through POST /v1/evaluate; no sweep as of the real now().
os.environ["GOVHUB_ALERTING_SWEEP_INTERVAL_SECONDS"] = "0"

from govhub_alerting.rules.service import adopt_city
from govhub_common.testing import Hub
from tests.alerting.support import Capture, capture_on, next_year


@pytest.fixture(autouse=True)
async def demo_city_rules(request: pytest.FixtureRequest) -> None:
    """The alerting tests' hubs stand for the Guangzhou city (GOVHUB_CITY_FILES,
    tests/conftest.py) without creating its topics in the exchange: its catalog is announced
    to alerting as the exchange would, and the city's rules come with their topics."""
    city = Path(os.environ["GOVHUB_CITY_FILES"])
    for name in ("hub", "rabbit_hub"):
        if name in request.fixturenames:
            hub: Hub = request.getfixturevalue(name)
            async with hub.runtime.db.session() as session:
                await adopt_city(session, city)


@pytest.fixture
def day0() -> date:
    return date(next_year(), 3, 1)


@pytest.fixture(scope="session")
async def capture(hub: Hub) -> Capture:
    return await capture_on(hub)


@pytest.fixture(scope="session")
async def rabbit_capture(rabbit_hub: Hub) -> Capture:
    return await capture_on(rabbit_hub)
