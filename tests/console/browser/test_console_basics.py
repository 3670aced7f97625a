"""The console in a real browser on the demo hub: each demo account signs in to its role's
menu, the pages work from the keyboard, pass axe, sign out for good and speak English when
asked. The `page` fixture fails any test whose pages log an error or break the CSP."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect

from tests.console.browser.conftest import watched_context
from tests.console.browser.support import Demo, screenshot, sign_in

# What each role's menu offers, in its order (zh-CN), and what it must not offer.
MENUS = {
    "case_officer": ["预警", "数据质量评分卡"],
    "data_steward": ["主题", "订阅", "客户端", "数据质量评分卡"],
    "operator": [
        "部门", "目录", "审计日志", "事件", "预警规则", "短信模板", "基础库", "数据质量评分卡"
    ],
}  # fmt: skip
ROLE_NAMES = {"case_officer": "个案办理人员", "data_steward": "数据管理员", "operator": "运维人员"}
AGENCIES = {"case_officer": "gz-ltax", "data_steward": "gz-amr", "operator": "gz-datacenter"}
EVERY_ENTRY = {entry for entries in MENUS.values() for entry in entries}


@pytest.mark.parametrize("role", sorted(MENUS))
async def test_each_demo_account_signs_in_to_its_roles_menu(
    page: Page, demo: Demo, role: str
) -> None:
    await sign_in(page, demo, role)

    facts = page.locator("dl.facts")
    await expect(facts.locator("dd.role")).to_have_text(ROLE_NAMES[role])
    await expect(facts.locator("dd.agency")).to_have_text(AGENCIES[role])
    menu = page.get_by_role("navigation", name="主菜单")
    await expect(menu.get_by_role("link")).to_have_text(["首页", *MENUS[role]])
    for other in EVERY_ENTRY - set(MENUS[role]):
        await expect(page.get_by_role("link", name=other, exact=True)).to_have_count(0)


async def test_the_login_page_is_shown_first_and_screenshot(page: Page, demo: Demo) -> None:
    await page.goto(f"{demo.url}/console/")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await expect(page.get_by_role("heading", name="登录", exact=True)).to_be_visible()
    await expect(page.get_by_label("用户名")).to_be_visible()
    await expect(page.get_by_label("密码")).to_be_visible()
    await screenshot(page, "login")


async def test_keyboard_only_skip_link_then_menu(page: Page, demo: Demo) -> None:
    await sign_in(page, demo, "operator")

    # The first Tab stop is the skip link; Enter on it moves the focus to the main content.
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="跳到主要内容")
    await expect(skip).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()

    # From the top again: past the skip link and the console's name, the menu.
    await page.reload()
    menu = page.get_by_role("navigation", name="主菜单")
    await page.keyboard.press("Tab")
    await expect(skip).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="govhub 数据中心控制台")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(menu.get_by_role("link", name="首页")).to_be_focused()
    await page.keyboard.press("Tab")
    agencies = menu.get_by_role("link", name="部门")
    await expect(agencies).to_be_focused()

    # Enter follows the focused link.
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{demo.url}/console/agencies")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()


async def _serious_violations(page: Page) -> list[str]:
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_login_and_home_pages_pass_axe(browser: Browser, demo: Demo) -> None:
    # axe injects its script with eval: only a context that bypasses the CSP lets it run.
    context, watch = await watched_context(browser, bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto(f"{demo.url}/console/login")
        assert await _serious_violations(page) == []
        for role in sorted(MENUS):
            await sign_in(page, demo, role)
            assert await _serious_violations(page) == [], role
            await page.get_by_role("button", name="退出登录").click()
            await expect(page).to_have_url(re.compile(r"/console/login"))
        assert watch.problems == []
    finally:
        await context.close()


async def test_signing_out_ends_the_session_and_back_shows_no_page(page: Page, demo: Demo) -> None:
    await sign_in(page, demo, "case_officer")
    username, _ = demo.accounts["case_officer"]
    await expect(page.get_by_text("陈晓明").first).to_be_visible()

    await page.get_by_role("button", name="退出登录").click()
    await expect(page).to_have_url(f"{demo.url}/console/login")
    await expect(page.get_by_role("heading", name="登录", exact=True)).to_be_visible()

    # The pages are no-store: Back asks the console again, which sends the person to sign in.
    await page.go_back()
    await expect(page).to_have_url(re.compile(r"/console/login"))
    await expect(page.get_by_role("heading", name="登录", exact=True)).to_be_visible()
    await expect(page.get_by_text("陈晓明")).to_have_count(0)
    await expect(page.get_by_role("navigation", name="主菜单")).to_have_count(0)
    assert username not in await page.content()


async def test_switching_to_english_renders_english(page: Page, demo: Demo) -> None:
    await sign_in(page, demo, "data_steward")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    await page.get_by_label("语言").select_option("en")
    # console.js submits the form on change; without JS the button would.
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hello, 林慧")
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link")).to_have_text(
        ["Home", "Topics", "Subscriptions", "Clients", "Quality scorecards"]
    )
    await expect(page.locator("dl.facts dd.role")).to_have_text("Data steward")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # The choice is the session's: the next page is English too.
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hello, 林慧")
