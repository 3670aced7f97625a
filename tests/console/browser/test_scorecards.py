"""The scorecards (数据质量评分卡) in a real browser on the demo hub: the operator
(`hub-operator`) opens the ranking of every agency, picks another month with the month
picker, and follows an agency to its scorecard. The `page` fixture fails the test on any
console error or CSP violation."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from govhub_console.scorecards.service import shifted
from tests.console.browser.support import Demo, screenshot, sign_in

AGENCY = "gz-ltax"  # 广州市地方税务局, an agency of the demo city


async def test_the_operator_ranks_the_agencies_and_opens_one(page: Page, demo: Demo) -> None:
    await sign_in(page, demo, "operator")
    menu = page.get_by_role("navigation", name="主菜单")
    await menu.get_by_role("link", name="数据质量评分卡").click()
    await expect(page.get_by_role("heading", level=1, name="数据质量评分卡")).to_be_visible()

    picker = page.get_by_label("月份", exact=True)
    shown = await picker.input_value()
    assert re.fullmatch(r"\d{4}-\d{2}", shown), shown
    # Every agency of the hub has a row, graded or not (an empty month says so above it).
    ranking = page.get_by_role("table", name=f"{shown} 各部门数据质量排名")
    await expect(ranking).to_be_visible()
    await expect(ranking.locator(f"tr#agency-{AGENCY}")).to_have_count(1)
    await screenshot(page, "scorecards")

    # The month picker is a plain GET form.
    earlier = shifted(shown, -1)
    await picker.fill(earlier)
    await page.get_by_role("button", name="查看").click()
    await expect(page).to_have_url(re.compile(rf"/console/scorecards\?month={earlier}$"))
    ranking = page.get_by_role("table", name=f"{earlier} 各部门数据质量排名")
    await expect(ranking).to_be_visible()

    await ranking.locator(f"tr#agency-{AGENCY} a").click()
    await expect(page).to_have_url(re.compile(rf"/console/scorecards/{AGENCY}\?month={earlier}$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text(AGENCY)
    await expect(page.get_by_label("月份", exact=True)).to_have_value(earlier)
    history = page.get_by_role("table", name="最近 6 个月的综合得分")
    await expect(history.locator("tbody tr")).to_have_count(6)
    await expect(history.locator("tbody tr").last).to_contain_text(earlier)
