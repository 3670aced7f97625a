"""Fixtures of the deployment tests (helpers live in support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.support import VALUES_FILES, load_values, render


@pytest.fixture(scope="session", params=sorted(VALUES_FILES))
def values_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def rendered() -> Iterator[dict[str, list[dict[str, Any]]]]:
    yield {name: render(load_values(name)) for name in VALUES_FILES}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "image: builds and runs the container image (minutes; .ci/run's own step)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The image test runs only when asked for (GOVHUB_TEST_IMAGE=1, as .ci/run does after
    `make test`): deselected, not skipped, everywhere else."""
    import os

    if os.environ.get("GOVHUB_TEST_IMAGE") == "1":
        return
    kept = [item for item in items if item.get_closest_marker("image") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
