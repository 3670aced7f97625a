"""Console pages on the full-scale Guangzhou year: how fast a case officer's warning queue and
a warning's page answer (target: p95 at most 200 ms each), and the other roles' main pages.

    .venv/bin/python bench/console_pages.py [--scale 1.0] [--days 365] [--rate 10] [--seconds 30]

Replays the year with `govhub demo --keep-serving` (34,000 new enterprises at scale 1.0, all
their warnings; about 5 minutes on 2 cores) on a scratch database of GOVHUB_DATABASE_URL's
server (or the embedded PostgreSQL), then signs the demo accounts in and requests each page
open-loop at a fixed rate: latency is counted from each request's scheduled time, so a
stall is not hidden. Every request goes through the whole console: the session, the person's
token, the in-process API calls, the template.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
PORT = 8097


def read_accounts(home: Path) -> dict[str, tuple[str, str]]:
    """role -> (username, password) from the demo's GOVHUB_HOME/console-demo-accounts."""
    from govhub_demo.console_accounts import read_accounts as read_demo_accounts

    return {a.role: (a.username, a.password) for a in read_demo_accounts(home).values()}


async def sign_in(url: str, username: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, headers={"Origin": url}, timeout=60)
    page = await client.get("/console/login")
    match = CSRF.search(page.text)
    assert match, page.text[:500]
    reply = await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": match.group(1)},
    )
    assert reply.status_code == 303, f"{username}: {reply.status_code} {reply.text[:300]}"
    return client


async def open_loop(
    client: httpx.AsyncClient, paths: Callable[[], str], rate: int, seconds: int
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    failures: list[int] = []

    async def one(path: str, scheduled: float) -> None:
        reply = await client.get(path)
        latencies.append(time.perf_counter() - scheduled)
        if reply.status_code != 200:
            failures.append(reply.status_code)

    for _ in range(5):  # warm-up: connections, caches, the person's token
        await client.get(paths())
    tasks = []
    start = time.perf_counter()
    for i in range(rate * seconds):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(paths(), scheduled)))
    await asyncio.gather(*tasks)
    latencies.sort()
    return latencies, failures


def pct(latencies: list[float], p: float) -> float:
    return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000


async def measure(url: str, home: Path, rate: int, seconds: int) -> None:
    accounts = read_accounts(home)
    rng = random.Random(19)
    officer = await sign_in(url, *accounts["case_officer"])
    steward = await sign_in(url, *accounts["data_steward"])
    operator = await sign_in(url, *accounts["operator"])
    # The warnings the officer's queue shows: their ids, from the queue's own API.
    queue = await officer.get("/console/warnings?status=open")
    ids = sorted(set(re.findall(r'href="/console/warnings/(\d+)"', queue.text)))
    assert ids, "the case officer's queue shows no warning"
    print(f"{len(ids)} warnings on the queue's first page; {rate} requests/s for {seconds} s each")
    pages: list[tuple[str, httpx.AsyncClient, Callable[[], str]]] = [
        ("warning queue (open, oldest first)", officer, lambda: "/console/warnings?status=open"),
        ("warning queue (newest first)", officer, lambda: "/console/warnings?order=newest"),
        ("a warning's page", officer, lambda: f"/console/warnings/{rng.choice(ids)}"),
        ("follow-up figures", officer, lambda: "/console/warnings/figures"),
        ("steward: subscriptions", steward, lambda: "/console/subscriptions"),
        ("operator: audit log", operator, lambda: "/console/audit"),
    ]
    print(f"{'page':38} {'p50':>8} {'p95':>8} {'p99':>8}  non-200")
    for name, client, paths in pages:
        latencies, failures = await open_loop(client, paths, rate, seconds)
        print(
            f"{name:38} {pct(latencies, 0.50):6.1f}ms {pct(latencies, 0.95):6.1f}ms "
            f"{pct(latencies, 0.99):6.1f}ms  {len(failures)}"
        )
    for client in (officer, steward, operator):
        await client.aclose()


def wait_serving(url: str, home: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until the replay is over (its report written) and the console answers."""
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"govhub demo exited with {proc.returncode}")
        if (home / "demo.json").exists():
            try:
                if httpx.get(f"{url}/console/login", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="1.0")
    parser.add_argument("--days", default="365")
    parser.add_argument("--rate", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govhub-bench-console-"))
    url = f"http://127.0.0.1:{PORT}"
    # Plain http on loopback: the session cookie without Secure (development only).
    env = {**os.environ, "GOVHUB_HOME": str(home), "GOVHUB_CONSOLE_COOKIE_SECURE": "false"}
    env.setdefault("GOVHUB_LOG_LEVEL", "WARNING")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "govhub_common.cli", "demo", "--scale", args.scale,
         "--days", args.days, "--database", "govhub_bench_console", "--port", str(PORT),
         "--keep-serving", "--report", str(home / "demo.md")],
        env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_serving(url, home, proc)
        print(f"replayed scale {args.scale} in {time.monotonic() - started:.0f} s")
        asyncio.run(measure(url, home, args.rate, args.seconds))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
