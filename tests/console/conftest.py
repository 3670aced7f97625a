"""The console's tests run against the suites' all-in-one hub (tests/conftest.py `hub`),
through a client of their own that speaks https, keeps cookies and sends the console's
Origin, as a browser would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from govhub_common.testing import Hub
from govhub_console.settings import ConsoleSettings
from tests.console.support import browser, make_agency

AGENCY = "gz-console-scj"
AGENCY_NAME = "广州市市场监督管理局（控制台测试）"


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    await make_agency(hub, AGENCY, AGENCY_NAME)
    async with browser(hub) as client:
        yield client


@pytest.fixture
def console_settings(hub: Hub) -> ConsoleSettings:
    """The running console's settings object: a test may change an attribute through
    monkeypatch (undone after it)."""
    settings: ConsoleSettings = hub.runtime.context("console").settings
    return settings


@pytest.fixture
def username() -> str:
    return f"u{uuid.uuid4().hex[:10]}"
