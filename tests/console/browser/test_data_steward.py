"""The data steward's journey in a real browser on the demo hub (gz-amr's `amr-steward`,
广州市工商行政管理局): another agency asks for gz-amr's conditional topic 企业开业登记
(as `govhub apply` would, an operator naming the subscriber), the steward sees the request
with its age, approves it, and the subscriber's feed starts delivering."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import Page, expect

from tests.console.browser.support import Demo, screenshot, sign_in

TOPIC = "enterprise_registered"  # gz-amr's, shared on approval (libs/demo/.../topics.yaml)


def requesting_agency(demo: Demo) -> tuple[str, str]:
    """A new agency with a subscribing client: its code and its client's token."""
    code = f"t-req-{uuid.uuid4().hex[:6]}"
    made = demo.api("/exchange/v1/agencies", "POST", json={"code": code, "name": "广州市测试局"})
    assert made.status_code == 201, made.text
    client = demo.api(
        f"/exchange/v1/agencies/{code}/clients", "POST", json={"scopes": ["exchange:subscribe"]}
    )
    assert client.status_code == 201, client.text
    reply = httpx.post(
        f"{demo.url}/exchange/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.json()["client_id"], client.json()["client_secret"]),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return code, str(reply.json()["access_token"])


async def test_the_steward_approves_a_pending_request_and_the_feed_starts(
    page: Page, demo: Demo
) -> None:
    subscriber, token = requesting_agency(demo)
    asked = demo.api(
        "/exchange/v1/subscriptions",
        "POST",
        token=demo.operator_token(),
        json={
            "topic": TOPIC,
            "purpose": "核对企业开业后的税务登记",
            "items": ["uscc", "name", "established_date"],
            "subscriber": subscriber,
        },
    )
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending"
    sid = asked.json()["id"]
    feed = f"/exchange/v1/subscriptions/{sid}/records"
    assert demo.api(feed, token=token).status_code == 403  # not before the owner decides

    await sign_in(page, demo, "data_steward")
    await page.get_by_role("navigation").get_by_role("link", name="订阅", exact=True).click()
    await expect(page.get_by_role("heading", level=1, name="订阅管理")).to_be_visible()
    pending = page.get_by_role("table", name=re.compile("等待审批的请求"))
    await expect(pending).to_be_visible()
    row = page.locator(f"#request-{sid}")
    await expect(row).to_contain_text(subscriber)
    await expect(row).to_contain_text("企业名称")  # the items asked, by title
    await expect(row.locator(".pending-age")).to_have_text(re.compile(r"^\s*0 天\s*$"))
    await screenshot(page, "data-steward")

    await row.get_by_role("button", name=f"批准 {subscriber} 对 {TOPIC} 的申请", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("已批准该申请")
    await expect(page.locator(f"#request-{sid}")).to_have_count(0)
    granted = page.get_by_role("table", name=re.compile("已获准订阅"))
    await expect(granted.get_by_role("link", name=subscriber, exact=True).first).to_be_visible()

    # The subscriber's feed delivers now, with the granted items only.
    reply = demo.api(feed, token=token, params={"limit": 10})
    assert reply.status_code == 200, reply.text
    records = reply.json()["data"]
    assert records, "the demo year's enterprises are on the feed"
    assert set(records[0]["data"]) <= {"uscc", "name", "established_date"}
