"""Fixtures of the deployment tests (helpers live in deploy_helpers.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # deploy_helpers, metric_names: whatever the import mode
    sys.path.insert(0, str(HERE))

from deploy_helpers import VALUES_FILES, load_values, render  # noqa: E402


@pytest.fixture(scope="session", params=sorted(VALUES_FILES))
def values_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def rendered() -> Iterator[dict[str, list[dict[str, Any]]]]:
    yield {name: render(load_values(name)) for name in VALUES_FILES}
