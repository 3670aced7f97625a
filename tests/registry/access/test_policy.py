"""The access policy is validated when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from govhub_registry.access.policy import load_access_policy


def test_an_unknown_key_in_the_access_policy_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("agencies:\n  gz-ltax:\n    persons: [name]\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_access_policy(bad)
