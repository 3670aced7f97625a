"""Fixtures for every suite: a fresh database on the real PostgreSQL, the real RabbitMQ,
and running hubs. See govhub_common.testing for how servers are chosen."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# No time limit on a property test's example: timing belongs in bench/, and a loaded CI
# machine would fail an example for being slow, not wrong.
hypothesis_settings.register_profile("govhub", deadline=None)
hypothesis_settings.load_profile("govhub")

# Settings are read from the environment; pin the test ones before anything imports them.
_HOME = Path(tempfile.mkdtemp(prefix="govhub-test-home-"))
os.environ["GOVHUB_HOME"] = str(_HOME)
os.environ.setdefault("GOVHUB_ENVIRONMENT", "test")
os.environ.setdefault("GOVHUB_LOG_FORMAT", "json")
for _name in ("GOVHUB_DATABASE_URL", "GOVHUB_AMQP_URL"):
    os.environ.pop(_name, None)
# The suites' hubs stand for the Guangzhou demo city: each service reads its mappings, rules
# and templates from the city's files at start (tests of another city clear this).
GUANGZHOU = Path(__file__).resolve().parent.parent / "examples" / "cities" / "guangzhou"
os.environ["GOVHUB_CITY_FILES"] = str(GUANGZHOU)

from govhub_common import testing  # noqa: E402
from govhub_common.settings import CommonSettings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def govhub_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def admin_db_url() -> str:
    # Synchronous: starting the embedded server runs its own event loop.
    return testing.admin_database_url(REPO / ".govhub-test")


@pytest.fixture(scope="session")
async def db_url(admin_db_url: str) -> AsyncIterator[str]:
    """A fresh database for the whole session, dropped at the end."""
    url = await testing.create_test_database(admin_db_url)
    yield url
    await testing.drop_test_database(admin_db_url, url)


@pytest.fixture
async def fresh_db_url(admin_db_url: str) -> AsyncIterator[str]:
    """A fresh database for one test (for tests that need an empty hub)."""
    url = await testing.create_test_database(admin_db_url)
    yield url
    await testing.drop_test_database(admin_db_url, url)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    url = testing.amqp_url()
    if not testing.broker_reachable(url):
        message = testing.BROKER_MISSING.format(url=url)
        if testing.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def amqp_exchange() -> str:
    """Each test session publishes on its own exchange, so runs never see each other."""
    return f"govhub.test.{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def hub(db_url: str) -> AsyncIterator[testing.Hub]:
    """The whole hub, all-in-one, in-process events (the embedded default's shape)."""
    async with testing.running_hub(db_url) as running:
        yield running


@pytest.fixture(scope="session")
async def rabbit_hub(
    admin_db_url: str, amqp_url: str, amqp_exchange: str
) -> AsyncIterator[testing.Hub]:
    """The whole hub, all-in-one, with events through the real RabbitMQ."""
    url = await testing.create_test_database(admin_db_url)
    settings = CommonSettings(
        amqp_url=amqp_url,
        amqp_exchange=amqp_exchange,
        amqp_queue_prefix=f"{amqp_exchange}.",
        amqp_delete_queues_at_stop=True,
    )
    try:
        async with testing.running_hub(url, settings=settings) as running:
            yield running
    finally:
        await testing.drop_test_database(admin_db_url, url)
