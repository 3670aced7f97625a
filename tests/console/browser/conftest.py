"""The browser tests' fixtures: the demo hub (`govhub demo --keep-serving`, once per
session), one Chromium for the session, and a fresh page per test that fails the test on any
console error, uncaught exception or Content-Security-Policy violation.

Every test here is marked `browser` (select them with `-m browser`). Chromium is the
machine's (GOVHUB_TEST_CHROMIUM, default /usr/bin/chromium; `.ci/browser-tools.sh` installs
it in CI), never a `playwright install` download: without it the tests skip, and fail under
CI=true."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from govhub_common.db import with_database
from govhub_common.testing import drop_test_database, free_port, in_ci
from tests.console.browser.support import ACCOUNTS_FILE, Demo

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Short enough to start in about a minute on a 2-core machine, long enough that the tax
# rule (30 days) has open warnings older than 35 days for the case officer's pages.
DEMO_ARGS = ["--scale", "0.01", "--days", "120", "--seed", "2008"]
DEMO_START_TIMEOUT = 420.0
# Fixture setup counts in a test's time: the first test waits for the demo to start.
BROWSER_TEST_TIMEOUT = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(BROWSER_TEST_TIMEOUT))


def _missing(message: str) -> None:
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("GOVHUB_TEST_CHROMIUM", "/usr/bin/chromium")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        _missing(
            f"no Chromium at {path}: install Debian's chromium (.ci/browser-tools.sh) or set "
            "GOVHUB_TEST_CHROMIUM"
        )
    return path


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as running:
        yield running


@pytest.fixture(scope="session")
async def browser(playwright: Playwright, chromium_path: str) -> AsyncIterator[Browser]:
    launched = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        await launched.close()


class PageWatch:
    """What went wrong in a page that a person would not see: console errors, uncaught
    exceptions and CSP violations (Chromium reports these as console errors too; the DOM
    event names the directive)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    async def attach(self, context: BrowserContext) -> None:
        await context.expose_binding(
            "__govhubCspViolation",
            lambda _source, text: self.problems.append(f"CSP violation: {text}"),
        )
        # Init scripts run through the DevTools protocol, outside the page's CSP.
        await context.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => "
            "window.__govhubCspViolation(`${e.violatedDirective} blocked ${e.blockedURI} "
            "at ${e.sourceFile}:${e.lineNumber} on ${document.location.href}`));"
        )

    def watch(self, page: Page) -> None:
        def on_console(message: Any) -> None:
            if message.type == "error":
                source = message.location.get("url") or page.url
                self.problems.append(f"console error ({source}): {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))


async def watched_context(browser: Browser, **options: Any) -> tuple[BrowserContext, PageWatch]:
    """A fresh context (zh-CN, 1280 wide, unless `options` say otherwise) whose pages are
    watched; `watch.problems` lists what went wrong."""
    options = {"locale": "zh-CN", "viewport": {"width": 1280, "height": 900}, **options}
    context = await browser.new_context(**options)
    watch = PageWatch()
    await watch.attach(context)
    context.on("page", watch.watch)
    return context, watch


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context, watch = await watched_context(browser)
    try:
        opened = await context.new_page()
        yield opened
    finally:
        await context.close()
    if watch.problems:
        pytest.fail("the page reported problems:\n" + "\n".join(watch.problems), pytrace=False)


def _demo_env(home: Path, admin_db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVHUB_")}
    env.update(GOVHUB_HOME=str(home), GOVHUB_LOG_LEVEL="WARNING", GOVHUB_DATABASE_URL=admin_db_url)
    # A webhook nobody answers gives up within seconds, not after eight attempts over minutes:
    # the operator's journey re-drives such a dead letter.
    env.update(
        GOVHUB_WEBHOOK_MAX_ATTEMPTS="2",
        GOVHUB_WEBHOOK_BACKOFF_BASE_SECONDS="1",
        GOVHUB_WEBHOOK_TIMEOUT_SECONDS="3",
    )
    return env


def _wait_for_demo(
    url: str, home: Path, report: Path, proc: subprocess.Popen[bytes], log: Path
) -> None:
    """Until the replay is over (its report written), the accounts file exists and the
    console's login page answers."""
    deadline = time.monotonic() + DEMO_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"govhub demo exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
            )
        if report.exists() and (home / ACCOUNTS_FILE).exists():
            try:
                if httpx.get(f"{url}/console/login", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.5)
    raise AssertionError(
        f"govhub demo not serving after {DEMO_START_TIMEOUT}s:\n{log.read_text()[-4000:]}"
    )


def _spawn(
    command: list[str], env: dict[str, str], work: Path, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
async def demo(admin_db_url: str, chromium_path: str) -> AsyncIterator[Demo]:
    """The running demo hub (support.Demo): `.url`, `.accounts` (role -> (username,
    password)), `.home`, `.operator_token()`, `.api(path, ...)`; stopped and its database
    dropped at the end of the session."""
    # chromium_path first: without a browser there is nothing to start the demo for.
    work = Path(tempfile.mkdtemp(prefix="govhub-browser-"))
    home = work / "home"
    database = f"govhub_browser_{uuid.uuid4().hex[:8]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    report = work / "demo-report.md"
    log = work / "demo.log"
    command = [
        sys.executable,
        "-m",
        "govhub_common.cli",
        "demo",
        *DEMO_ARGS,
        "--keep-serving",
        "--port",
        str(port),
        "--database",
        database,
        "--report",
        str(report),
    ]
    proc = _spawn(command, _demo_env(home, admin_db_url), work, log)
    try:
        await asyncio.to_thread(_wait_for_demo, url, home, report.with_suffix(".json"), proc, log)
        yield Demo(url=url, home=home, accounts=Demo.read_accounts(home))
    finally:
        await asyncio.to_thread(_stop, proc)
        await drop_test_database(admin_db_url, with_database(admin_db_url, database))
        shutil.rmtree(work, ignore_errors=True)
