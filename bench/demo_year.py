"""The full-scale Guangzhou year: 34,000 new enterprises and all their related records,
replayed through the HTTP APIs by `govhub demo` (target: at most 5 minutes on 2 cores).

    .venv/bin/python bench/demo_year.py [--scale 1.0] [--days 365]

Uses GOVHUB_DATABASE_URL's server if set (a database `govhub_bench_demo` is recreated on
it), otherwise the embedded PostgreSQL. The report (time, records per second, figures
against the ground truth) is printed and written to bench/results/demo-year.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="1.0")
    parser.add_argument("--days", default="365")
    parser.add_argument("--seed", default="2008")
    args = parser.parse_args()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "govhub_common.cli",
            "demo",
            "--scale",
            args.scale,
            "--days",
            args.days,
            "--seed",
            args.seed,
            "--database",
            "govhub_bench_demo",
            "--port",
            "8099",
            "--report",
            str(results / "demo-year.md"),
        ],
        check=False,
    )
    print(
        f"govhub demo --scale {args.scale} --days {args.days}: "
        f"{time.monotonic() - started:.1f} s wall clock (exit {run.returncode})"
    )
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
