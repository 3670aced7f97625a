"""Helpers of the cross-cutting tests: running `govhub` as a process on a clean environment."""

from __future__ import annotations

import os
import sys

GOVHUB = [sys.executable, "-m", "govhub_common.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVHUB_")}
    env.update(GOVHUB_LOG_FORMAT="json", **extra)
    return env
