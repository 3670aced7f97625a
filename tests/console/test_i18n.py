"""Chinese by default, English on request: the catalogs have the same keys, the page's
`lang` follows the locale, and the choice is kept (a cookie before sign-in, the session
after)."""

from __future__ import annotations

import json
import re

import httpx

from govhub_common.persons import ROLES
from govhub_common.testing import Hub
from govhub_console.home.service import MENU
from govhub_console.i18n import LOCALES, MESSAGES, catalog_folders, load_catalogs, negotiate
from tests.console.conftest import AGENCY
from tests.console.support import csrf_of, login, make_account

PACKAGE = MESSAGES.parent


def test_the_catalogs_have_the_same_keys_and_every_key_used_exists() -> None:
    for folder in catalog_folders():
        both = [
            json.loads((folder / f"{locale}.json").read_text(encoding="utf-8"))
            for locale in LOCALES
        ]
        assert both[0].keys() == both[1].keys(), folder
    catalogs = load_catalogs().messages
    assert set(catalogs) == {"zh-CN", "en"}
    assert catalogs["zh-CN"].keys() == catalogs["en"].keys()
    for locale, messages in catalogs.items():
        assert all(isinstance(v, str) and v.strip() for v in messages.values()), locale
    # Keys are named after their domain (warnings.title) or a shared word group.
    domains = {folder.parent.name for folder in catalog_folders()[1:]}
    prefixes = "|".join(sorted(domains | {"login", "error", "home"}))
    used = set()
    for template in PACKAGE.glob("**/templates/**/*.html"):
        text = template.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-zA-Z_-]+)["']""", text))
    for source in PACKAGE.glob("**/*.py"):
        found = re.findall(rf'"((?:{prefixes})\.[a-z_]+)"', source.read_text())
        used |= {key for key in found if not key.endswith(".html")}
    # Keys the templates build: "role." + role, "menu." + entry, "locale." + locale.
    used |= {f"role.{role}" for role in ROLES} | {f"menu.{e.key}" for e in MENU}
    used |= {f"locale.{locale}" for locale in LOCALES}
    assert used, "the scan found no message keys"
    assert used <= catalogs["en"].keys(), used - catalogs["en"].keys()


def test_the_browser_language_is_followed_and_chinese_is_the_default() -> None:
    assert negotiate(None) == "zh-CN"
    assert negotiate("fr-FR, de;q=0.8") == "zh-CN"
    assert negotiate("en-US,en;q=0.9,zh-CN;q=0.5") == "en"
    assert negotiate("zh-Hans;q=0.9, en;q=0.8") == "zh-CN"
    assert negotiate("en;q=0, zh-TW") == "zh-CN"


async def test_before_sign_in_the_switch_is_kept_in_a_cookie(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/login")
    assert '<html lang="zh-CN">' in page.text
    assert "登录" in page.text
    english = await client.get("/console/login", headers={"Accept-Language": "en-GB,en"})
    assert '<html lang="en">' in english.text
    switched = await client.post(
        "/console/locale",
        data={"locale": "en", "next": "/console/login", "csrf": csrf_of(page.text)},
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/console/login"
    page = await client.get("/console/login")
    assert '<html lang="en">' in page.text
    assert "Sign in" in page.text
    # A switch from another site is refused.
    refused = await client.post(
        "/console/locale",
        data={"locale": "zh-CN", "csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 403


async def test_a_signed_in_person_switches_to_english_in_their_session(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="case_officer", name="王芳")
    await login(client, username, password)
    home = await client.get("/console/")
    assert '<html lang="zh-CN">' in home.text
    assert "个案办理人员" in home.text
    reply = await client.post(
        "/console/locale", data={"locale": "en", "next": "/console/", "csrf": csrf_of(home.text)}
    )
    assert reply.status_code == 303
    client.cookies.delete("govhub-console-locale")  # the session remembers, not the cookie
    home = await client.get("/console/")
    assert '<html lang="en">' in home.text
    assert "Case officer" in home.text
    assert "Hello, 王芳" in home.text
    # Without the session's token the switch is refused.
    assert (await client.post("/console/locale", data={"locale": "zh-CN"})).status_code == 403
