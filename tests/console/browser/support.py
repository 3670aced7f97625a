"""What the browser tests share: the demo hub they run against (`Demo`, made once per
session by conftest.py's `demo` fixture), signing a demo account in, and screenshots for the
docs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from playwright.async_api import Page, expect

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "docs" / "images"
ACCOUNTS_FILE = "console-demo-accounts"  # written by `govhub demo` (govhub_demo.console_accounts)
SCREENSHOT_WIDTH = 1280


class _AwaitableResponse(httpx.Response):
    """An httpx response that `await` also gives back, so a test may write either
    `demo.api(...)` or `await demo.api(...)`."""

    def __await__(self) -> Any:
        return self
        yield  # a generator: awaiting it returns at once


class _AwaitableToken(str):
    """A token (a str) that `await` also gives back, as `_AwaitableResponse`."""

    def __await__(self) -> Any:
        return str(self)
        yield


@dataclass
class Demo:
    """A running all-in-one hub (`govhub demo --keep-serving`) that replayed a short
    Guangzhou year in simulation mode. The console is at `url + "/console/"`."""

    url: str
    home: Path
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (user, pw)

    @classmethod
    def read_accounts(cls, home: Path) -> dict[str, tuple[str, str]]:
        kept = orjson.loads((home / ACCOUNTS_FILE).read_bytes())
        return {a["role"]: (a["username"], a["password"]) for a in kept.values()}

    def operator_secret(self) -> str:
        return (self.home / "operator-secret").read_text(encoding="utf-8").strip()

    def operator_token(self) -> str:
        """A fresh operator API token (client credentials of the hub's `operator` client)."""
        reply = httpx.post(
            f"{self.url}/exchange/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("operator", self.operator_secret()),
            timeout=30,
        )
        reply.raise_for_status()
        return _AwaitableToken(reply.json()["access_token"])

    def api(
        self,
        path: str,
        method: str = "GET",
        token: str | None = None,
        json: Any = None,
        **kw: Any,
    ) -> httpx.Response:
        """One call of the hub's HTTP API (`path` from the root, e.g. "/alerting/v1/warnings")
        with `token` (default: a fresh operator token); the response, whatever its status."""
        headers = {"Authorization": f"Bearer {token or self.operator_token()}"}
        headers.update(kw.pop("headers", None) or {})
        kw.setdefault("timeout", 60)
        reply = httpx.request(method, f"{self.url}{path}", json=json, headers=headers, **kw)
        reply.__class__ = _AwaitableResponse
        return reply


async def sign_in(page: Page, demo: Demo, role: str) -> None:
    """Sign the demo account of `role` in through the login form (as a person would) and
    wait for the home page."""
    username, password = demo.accounts[role]
    await page.goto(f"{demo.url}/console/login")
    await page.get_by_label(re.compile(r"^(用户名|Username)$")).fill(username)
    await page.get_by_label(re.compile(r"^(密码|Password)$")).fill(password)
    await page.get_by_role("button", name=re.compile(r"^(登录|Sign in)$")).click()
    await expect(page).to_have_url(f"{demo.url}/console/")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()


async def screenshot(page: Page, name: str) -> None:
    """docs/images/console-<name>.png, the whole page 1280 pixels wide, when
    GOVHUB_SCREENSHOTS=1 (for the docs); otherwise nothing."""
    if os.environ.get("GOVHUB_SCREENSHOTS") != "1":
        return
    viewport = page.viewport_size or {"width": SCREENSHOT_WIDTH, "height": 800}
    if viewport["width"] != SCREENSHOT_WIDTH:
        await page.set_viewport_size({"width": SCREENSHOT_WIDTH, "height": viewport["height"]})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)
