"""Alerting fixtures: business years per test and captures of what alerting emits."""

from __future__ import annotations

import os
from datetime import date

import pytest

# The simulation drives time through POST /v1/evaluate; no sweep as of the real now().
os.environ["GOVHUB_ALERTING_SWEEP_INTERVAL_SECONDS"] = "0"

from alerting_support import Capture, capture_on, next_year

from govhub_common.testing import Hub


@pytest.fixture
def day0() -> date:
    return date(next_year(), 3, 1)


@pytest.fixture(scope="session")
async def capture(hub: Hub) -> Capture:
    return await capture_on(hub)


@pytest.fixture(scope="session")
async def rabbit_capture(rabbit_hub: Hub) -> Capture:
    return await capture_on(rabbit_hub)
