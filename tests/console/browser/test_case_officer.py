"""The case officer's journey in a real browser on the demo hub (gz-ltax 广州市地方税务局's
`ltax-officer`): find in the queue an enterprise licensed 35 days before the hub's business
date, read its evidence, resolve it as complied late, see the follow-up rate move, and be
refused another agency's warning."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from playwright.async_api import Browser, Page, expect

from govhub_common.clock import BUSINESS_TZ
from tests.console.browser.conftest import watched_context
from tests.console.browser.support import Demo, screenshot, sign_in

RULE = "tax_registration_missing"
AGENCY = "gz-ltax"
CITY = Path(__file__).resolve().parents[3] / "libs/demo/src/govhub_demo/guangzhou"


def business_today(demo: Demo) -> date:
    """The hub's business date: the replay's clock, as alerting keeps it."""
    status = demo.api("/alerting/v1/events/status")
    assert status.status_code == 200, status.text
    now = datetime.fromisoformat(status.json()["clock"]["now"])
    return now.astimezone(BUSINESS_TZ).date()


def open_tax_warnings(demo: Demo) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"rule": RULE, "status": "open", "agency": AGENCY, "limit": 5000}
    while True:
        reply = demo.api("/alerting/v1/warnings", params=params)
        assert reply.status_code == 200, reply.text
        found += reply.json()["data"]
        if not reply.json().get("next"):
            return found
        params["cursor"] = reply.json()["next"]


def the_target(demo: Demo) -> dict[str, Any]:
    """The open warning of an enterprise licensed 35 days ago, or the nearest older one."""
    licensed_by = business_today(demo) - timedelta(days=35)
    candidates = [
        w for w in open_tax_warnings(demo) if date.fromisoformat(w["trigger_date"]) <= licensed_by
    ]
    assert candidates, f"the demo has no open {RULE} warning licensed by {licensed_by}"
    return max(candidates, key=lambda w: (w["trigger_date"], w["id"]))


def granted_items(topic: str) -> set[str]:
    """What the demo city's approved subscriptions grant gz-ltax of a topic."""
    items: set[str] = set()
    for document in yaml.safe_load_all((CITY / "subscriptions.yaml").read_text("utf-8")):
        spec = (document or {}).get("spec") or {}
        mine = spec.get("subscriber") == AGENCY and spec.get("topic") == topic
        if mine and (spec.get("decision") or {}).get("approve"):
            items |= set(spec.get("items") or [])
    return items


def raised_day(warning: dict[str, Any]) -> str:
    return datetime.fromisoformat(warning["raised_at"]).astimezone(BUSINESS_TZ).date().isoformat()


def rate(text: str) -> float:
    return float(text.rstrip("%")) if text.endswith("%") else 0.0


async def follow_up_rate(page: Page, demo: Demo, year: int, month: str) -> float:
    await page.goto(f"{demo.url}/console/warnings/figures")
    await page.get_by_label("年份", exact=True).select_option(str(year))
    await page.get_by_role("button", name="查看", exact=True).click()
    await expect(page.get_by_role("heading", level=1, name="预警统计")).to_be_visible()
    table = page.get_by_role("table", name=re.compile(r"^应办未办税务登记："))
    row = table.get_by_role("row", name=re.compile(rf"^{month}\b"))
    await expect(row).to_have_count(1)
    await expect(page.locator("svg[role=img] title").first).to_be_attached()
    return rate((await row.locator("td.follow-up").inner_text()).strip())


async def test_a_case_officer_works_a_warning_from_the_queue(
    page: Page, demo: Demo, browser: Browser
) -> None:
    target = the_target(demo)
    subject = target["subject"]
    month = target["trigger_date"][:7]
    year = int(target["trigger_date"][:4])
    whole = demo.api(f"/alerting/v1/warnings/{target['id']}").json()

    await sign_in(page, demo, "case_officer")
    before = await follow_up_rate(page, demo, year, month)

    # The queue, filtered as a person would: the rule, open ones, raised on the day it was.
    await page.get_by_role("navigation", name="主菜单").get_by_role("link", name="预警").click()
    await expect(page.get_by_role("heading", level=1, name="预警待办")).to_be_visible()
    await page.get_by_label("预警规则", exact=True).select_option(RULE)
    await page.get_by_label("状态", exact=True).select_option("open")
    await page.get_by_label("产生日期自", exact=True).fill(raised_day(target))
    await page.get_by_label("产生日期至", exact=True).fill(raised_day(target))
    await page.get_by_label("排序", exact=True).select_option("newest")
    await page.get_by_role("button", name="筛选", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/console/warnings\?.*rule=" + RULE))
    link = page.get_by_role("link", name=subject, exact=True)
    await expect(link).to_be_visible()
    await screenshot(page, "case-officer")
    await link.click()

    # The warning and its evidence, as gz-ltax's grants allow.
    await expect(page).to_have_url(f"{demo.url}/console/warnings/{target['id']}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("应办未办税务登记")
    await expect(page.locator("#case-status")).to_have_text("待处理")
    evidence = whole["evidence"][0]
    read = set(evidence["data"]) | set(evidence["withheld"])  # what the rule reads
    withheld = sorted(read - granted_items(evidence["topic"]) - {"uscc"})
    section = page.locator("section", has=page.get_by_role("heading", name="证据"))
    if withheld:
        notice = section.locator("p.warnings-withheld").first
        await expect(notice).to_contain_text("因授权范围未显示")
        for name in withheld:
            await expect(notice).to_contain_text(name)
    else:
        for name in sorted(read):
            await expect(section.get_by_role("rowheader", name=name, exact=True)).to_be_visible()

    # Resolve it as complied late, with a note.
    await page.get_by_label("办结结果", exact=True).select_option("complied_late")
    await page.get_by_label("说明", exact=True).fill("企业已补办税务登记（浏览器测试）")
    await page.get_by_role("button", name="办结", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("预警已办结")
    await expect(page.locator("#case-status")).to_have_text("已办结")
    history = page.get_by_role("table", name=re.compile("状态变更记录"))
    username = demo.accounts["case_officer"][0]
    await expect(history).to_contain_text(f"{AGENCY}/local:{username}")
    await expect(history).to_contain_text("逾期补办")
    await screenshot(page, "case-officer-warning")

    # The figures of the trigger's month moved.
    after = await follow_up_rate(page, demo, year, month)
    assert after > before, (before, after)
    await screenshot(page, "case-officer-figures")


async def test_another_agencys_warning_is_refused(demo: Demo, browser: Browser) -> None:
    listed = demo.api("/alerting/v1/warnings", params={"limit": 1000}).json()["data"]
    foreign = [w for w in listed if w["assigned_agency"] != AGENCY]
    assert foreign, "the demo raised no warning assigned to another agency"
    target = foreign[0]

    # A context of its own: the refusal's 404 is the one console error expected of it.
    context, watch = await watched_context(browser)
    try:
        page = await context.new_page()
        await sign_in(page, demo, "case_officer")
        answer = await page.goto(f"{demo.url}/console/warnings/{target['id']}")
        assert answer is not None and answer.status == 404
        await expect(page.get_by_role("heading", level=1, name="无法显示")).to_be_visible()
        await expect(page.get_by_role("alert")).to_contain_text("404")
        await expect(page.get_by_text(target["subject"])).to_have_count(0)
        await expect(page.get_by_text(target["title"])).to_have_count(0)
    finally:
        await context.close()
    unexpected = [p for p in watch.problems if "404" not in p]
    assert not unexpected, unexpected
