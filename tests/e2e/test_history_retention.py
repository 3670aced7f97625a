"""The registry's and alerting's history follow the exchange's retention, end to end
(history_retention_scenario.py), in a pytest process of its own.

Run after the rest of the suite in one process, the scenario's fresh all-in-one hub never
applied its records within a minute, twice in CI; alone, and with every conftest of the
suite loaded, it passed every time (more than ten runs). Until what an earlier test leaves
behind is found, the scenario starts from a clean interpreter, as an operator's hub does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).with_name("history_retention_scenario.py")
ROOT = Path(__file__).resolve().parents[2]


def test_the_history_follows_the_retention_end_to_end() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SCENARIO)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout, done.stdout[-2000:]
