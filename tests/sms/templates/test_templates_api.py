"""Templates managed by operators through the API, and segment counting (shared hub)."""

from __future__ import annotations

import uuid
from typing import Any

from govhub_common import testing
from tests.sms.support import SIGNATURE


async def test_operators_manage_templates_and_segments_are_counted(hub: testing.Hub) -> None:
    code = f"notice_{uuid.uuid4().hex[:6]}"
    bad = await hub.client.post(
        "/sms/v1/templates",
        json={"code": code, "signature": "广州市数据局", "body": "{name}请{x-y}办理"},
        headers=hub.operator(),
    )
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"$.signature", "$.body"}

    body = "您好，{name}：" + "请" * 20
    created = await hub.client.post(
        "/sms/v1/templates",
        json={"code": code, "title": "测试通知", "signature": SIGNATURE, "body": body},
        headers=hub.operator(),
    )
    assert created.status_code == 201, created.text
    assert created.json()["params"] == ["name"]
    assert created.json()["category"] == "notification"

    agency = hub.auth("gz-ltax", "sms:send")

    async def render(name: str) -> dict[str, Any]:
        response = await hub.client.post(
            f"/sms/v1/templates/{code}/render", json={"params": {"name": name}}, headers=agency
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    # signature 14 + "您好，" 3 + name + "：" 1 + 20 = 38 + len(name)
    short = await render("甲" * 32)  # 70 characters: one message
    assert (short["units"], short["segments"]) == (70, 1)
    longer = await render("甲" * 34)  # 72 characters: two parts of at most 67
    assert (longer["units"], longer["segments"]) == (72, 2)

    marketing = await hub.client.post(
        "/sms/v1/templates",
        json={
            "code": f"promo_{uuid.uuid4().hex[:6]}",
            "signature": SIGNATURE,
            "body": "{name}：新政策发布。",
            "category": "marketing",
        },
        headers=hub.operator(),
    )
    assert marketing.json()["opt_out_allowed"] is True
    preview = await hub.client.post(
        f"/sms/v1/templates/{marketing.json()['code']}/render",
        json={"params": {"name": "张三"}},
        headers=agency,
    )
    assert preview.json()["text"] == SIGNATURE + "张三：新政策发布。回TD退订"

    changed = await hub.client.patch(
        f"/sms/v1/templates/{code}", json={"body": "{name}，您好"}, headers=hub.operator()
    )
    assert (changed.json()["version"], changed.json()["body"]) == (2, "{name}，您好")
