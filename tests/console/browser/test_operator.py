"""The operator's journey in a real browser on the demo hub (gz-datacenter's
`hub-operator`): verify the audit log and see it verified, then re-drive a dead letter from
the events page.

The demo hub runs in another process with its events in-process, so a consumer's dead letter
cannot be made from here; a webhook's can, through the API alone: a subscription whose
webhook points at an address that never answers (TEST-NET-1, RFC 5737) gives up on its
delivery after its attempts (the demo hub of these tests gives up after two, within
seconds: tests/console/browser/conftest.py)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.console.browser.support import Demo, screenshot, sign_in
from tests.exchange.support import ENTERPRISE_SCHEMA, enterprise

UNREACHABLE_WEBHOOK = "https://192.0.2.1:9/govhub/webhook"
DEAD_LETTER_TIMEOUT = 120.0


def agency_token(demo: Demo, code: str, scopes: list[str]) -> str:
    """A new agency of the demo hub with a client holding `scopes`; its token."""
    made = demo.api("/exchange/v1/agencies", "POST", json={"code": code, "name": f"测试局{code}"})
    assert made.status_code == 201, made.text
    client = demo.api(f"/exchange/v1/agencies/{code}/clients", "POST", json={"scopes": scopes})
    assert client.status_code == 201, client.text
    reply = httpx.post(
        f"{demo.url}/exchange/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.json()["client_id"], client.json()["client_secret"]),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def webhook_that_dies(demo: Demo) -> dict[str, Any]:
    """A subscription with a webhook nobody answers and a record to deliver to it; the
    subscription's id."""
    marker = uuid.uuid4().hex[:6]
    owner = agency_token(demo, f"t-own-{marker}", ["exchange:catalog", "exchange:publish"])
    subscriber = agency_token(demo, f"t-sub-{marker}", ["exchange:subscribe"])
    topic = f"t_webhook_{marker}"
    made = demo.api(
        "/exchange/v1/topics",
        "POST",
        token=owner,
        json={
            "code": topic,
            "title": "企业开业登记（测试）",
            "sharing_type": "unconditional",
            "schema": ENTERPRISE_SCHEMA,
        },
    )
    assert made.status_code == 201, made.text
    subscription = demo.api(
        "/exchange/v1/subscriptions",
        "POST",
        token=subscriber,
        json={"topic": topic, "purpose": "测试 Webhook 死信", "items": ["uscc", "name"]},
    )
    assert subscription.status_code == 201, subscription.text
    sid = subscription.json()["id"]
    hook = demo.api(
        f"/exchange/v1/subscriptions/{sid}/webhook",
        "PUT",
        token=subscriber,
        json={"url": UNREACHABLE_WEBHOOK},
    )
    assert hook.status_code == 200, hook.text
    published = demo.api(
        f"/exchange/v1/topics/{topic}/records",
        "POST",
        token=owner,
        json=[{"record_id": f"w-{marker}", "data": enterprise(7)}],
    )
    assert published.status_code == 200, published.text
    return {"subscription_id": sid, "topic": topic}


async def dead_letter_of(demo: Demo, subscription_id: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEAD_LETTER_TIMEOUT
    while loop.time() < deadline:
        reply = demo.api(
            "/exchange/v1/webhooks/dead-letters", params={"subscription_id": subscription_id}
        )
        assert reply.status_code == 200, reply.text
        if reply.json()["data"]:
            return dict(reply.json()["data"][0])
        await asyncio.sleep(1)
    raise AssertionError(f"no dead webhook delivery after {DEAD_LETTER_TIMEOUT}s")


async def test_the_operator_verifies_the_audit_log_and_redrives_a_dead_letter(
    page: Page, demo: Demo
) -> None:
    dying = webhook_that_dies(demo)
    await sign_in(page, demo, "operator")

    await page.get_by_role("link", name=re.compile("^审计日志$")).first.click()
    await expect(page.get_by_role("heading", level=1, name="审计日志")).to_be_visible()
    await page.get_by_role("button", name="校验审计日志").click()
    await expect(page.get_by_role("status")).to_contain_text("校验通过")
    await expect(page.get_by_text("已校验记录数")).to_be_visible()
    await screenshot(page, "operator")

    letter = await dead_letter_of(demo, dying["subscription_id"])
    await page.get_by_role("link", name=re.compile("^事件$")).first.click()
    await expect(page.get_by_role("heading", level=1, name="事件")).to_be_visible()
    await expect(page.get_by_role("table", name="各服务的发件箱与消费者积压")).to_be_visible()
    redrive = page.get_by_role(
        "button",
        name=f"重新投递订阅 {letter['subscription_id']} 的第 {letter['seq']} 条记录",
    )
    await redrive.click()
    await expect(page.get_by_role("status")).to_contain_text("已将 1 个 Webhook 投递放回队列。")
    again = demo.api(
        "/exchange/v1/webhooks/dead-letters",
        params={"subscription_id": dying["subscription_id"]},
    )
    assert again.json()["data"] == []  # back in the queue (it will die again, later)
