"""/console/sms-templates: an operator reads a template's text and previews it with sample
parameters (the gateway's render; a missing parameter is its 409 on the page); a case
officer gets the gateway's refusal."""

from __future__ import annotations

import uuid

import httpx

from govhub_common.testing import Hub
from tests.console.ops.support import csrf_of, sign_in_as, sign_in_operator, text_of


async def test_an_operator_previews_a_template_with_sample_parameters(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    code = f"c_{uuid.uuid4().hex[:8]}"
    made = await hub.client.post(
        "/sms/v1/templates",
        json={
            "code": code,
            "title": "税务登记提醒",
            "signature": "【广州市税务局】",
            "body": "{name}：请于{deadline}前办理税务登记。",
            "category": "notification",
        },
        headers=hub.operator(),
    )
    assert made.status_code == 201, made.text
    await sign_in_operator(hub, client, username)

    page = await client.get(f"/console/sms-templates/{code}")
    assert page.status_code == 200, page.text
    assert "{name}：请于{deadline}前办理税务登记。" in text_of(page.text)
    assert '<label for="param-name">参数 name</label>' in page.text

    preview = await client.post(
        f"/console/sms-templates/{code}/render",
        data={
            "csrf": csrf_of(page.text),
            "param_name": "广州示例贸易有限公司",
            "param_deadline": "3月31日",
        },
    )
    assert preview.status_code == 200, preview.text
    assert "【广州市税务局】广州示例贸易有限公司：请于3月31日前办理税务登记。" in preview.text
    assert '<dd class="preview-segments">1</dd>' in preview.text

    missing = await client.post(
        f"/console/sms-templates/{code}/render",
        data={"csrf": csrf_of(page.text), "param_name": "广州示例贸易有限公司"},
    )
    assert missing.status_code == 200  # the page stands; the gateway's problem is on it
    assert "接口拒绝了此请求（HTTP 409）" in text_of(missing.text)
    assert "deadline" in text_of(missing.text)

    listing = await client.get("/console/sms-templates", params={"limit": 1})
    assert listing.status_code == 200
    assert "短信模板" in listing.text


async def test_an_unknown_template_and_a_case_officer_answer_as_the_gateway_does(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(hub, client, username)
    assert (await client.get("/console/sms-templates/no_such_template")).status_code == 404
    client.cookies.clear()
    await sign_in_as(hub, client, username, role="case_officer")
    refused = await client.get("/console/sms-templates")
    assert refused.status_code == 403
    assert "HTTP 403" in text_of(refused.text)
