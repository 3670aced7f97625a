"""Dates in SMS text: Chinese by default, as a template's placeholder says otherwise."""

from __future__ import annotations

import uuid
from typing import Any

from govhub_common import testing
from tests.sms.support import random_mobile

SIGNATURE = "【广州市政务服务数据管理局】"


async def test_a_date_parameter_is_written_in_chinese_in_the_shipped_reminder(
    hub: testing.Hub,
) -> None:
    # Alerting passes $deadline as an ISO date; the text reads as the docs show it.
    response = await hub.client.post(
        "/sms/v1/messages",
        json={
            "recipient": random_mobile(),
            "template": "tax_registration_reminder",
            "params": {"name": "广州示范有限公司", "deadline": "2008-01-31"},
        },
        headers={**hub.auth("gz-ltax", "sms:send"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    assert response.json()["text"] == (
        SIGNATURE
        + "广州示范有限公司：贵企业已办理营业执照，请于2008年1月31日前到主管税务机关办理税务登记。"
    )


async def test_a_template_gives_its_own_date_format(hub: testing.Hub) -> None:
    code = f"dated_{uuid.uuid4().hex[:6]}"
    created = await hub.client.post(
        "/sms/v1/templates",
        json={
            "code": code,
            "signature": SIGNATURE,
            "body": "请于{deadline:%Y-%m-%d}（{deadline:%-m/%-d}）前办理，登记日{day}。",
        },
        headers=hub.operator(),
    )
    assert created.status_code == 201, created.text
    assert created.json()["params"] == ["deadline", "day"]
    agency = hub.auth("gz-ltax", "sms:send")

    async def render(params: dict[str, Any]) -> Any:
        return await hub.client.post(
            f"/sms/v1/templates/{code}/render", json={"params": params}, headers=agency
        )

    rendered = await render({"deadline": "2008-01-31", "day": "2008-01-02"})
    assert rendered.status_code == 200, rendered.text
    assert (
        rendered.json()["text"] == SIGNATURE + "请于2008-01-31（1/31）前办理，登记日2008年1月2日。"
    )

    # A formatted placeholder needs a date (parameters that do not fit the template are
    # 409, as a missing one is); text that is no date stays as given elsewhere.
    not_a_date = await render({"deadline": "2008年1月31日", "day": "次日"})
    assert not_a_date.status_code == 409, not_a_date.text
    assert [e["path"] for e in not_a_date.json()["errors"]] == ["$.params.deadline"]
    as_given = await render({"deadline": "2008-01-31", "day": "2008-02-30"})
    assert as_given.json()["text"].endswith("登记日2008-02-30。")

    for body in ("请于{deadline:%H时}前办理", "请于{deadline:}前办理"):
        refused = await hub.client.post(
            "/sms/v1/templates",
            json={"code": f"dated_{uuid.uuid4().hex[:6]}", "signature": SIGNATURE, "body": body},
            headers=hub.operator(),
        )
        assert refused.status_code == 422, (body, refused.text)
        assert [e["path"] for e in refused.json()["errors"]] == ["$.body"], body
