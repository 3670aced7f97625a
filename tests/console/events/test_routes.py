"""/console/events: an operator sees each service's events and a consumer's dead letter,
re-drives it from the page (the consumer gets it again), and follows links to the shipped
Grafana dashboards; a data steward gets the refusal."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from govhub_common.metrics import EVENTS_CONSUMED
from govhub_common.testing import Hub, wait_for
from govhub_console.events.service import DASHBOARDS
from govhub_console.settings import ConsoleSettings
from tests.common.test_dead_letters_api import GROUP, record_event
from tests.console.ops.support import csrf_of, sign_in_as, sign_in_operator, text_of

CHART_DASHBOARDS = Path(__file__).parents[3] / "helm" / "govhub" / "dashboards"


async def test_an_operator_redrives_a_dead_letter_from_the_page(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    # An event whose records are not a list breaks its contract: registry's consumer fails
    # it until the broker parks it (tests/common/test_dead_letters_api.py).
    broken = record_event(f"broken-{uuid.uuid4().hex[:8]}", 5)
    await hub.runtime.bus.publish([broken])
    await sign_in_operator(hub, client, username)

    async def listed() -> str | None:
        page = await client.get("/console/events")
        assert page.status_code == 200, page.text
        return page.text if broken.id in page.text else None

    page = await wait_for(listed, timeout=60)
    words = text_of(page)
    for service in ("exchange", "registry", "alerting", "sms"):
        assert service in words
    assert f"消费者组 {GROUP} 的死信" in words
    assert "BrokenContract" in words

    failures = EVENTS_CONSUMED.labels("registry", GROUP, "failed")
    before = failures._value.get()
    done = await client.post(
        "/console/events/redrive",
        data={"csrf": csrf_of(page), "service": "registry", "group": GROUP, "event_id": broken.id},
    )
    assert done.status_code == 303, done.text
    assert re.search(r"redriven=[1-9]", done.headers["location"])
    shown = await client.get(done.headers["location"])
    assert f"个事件重新交给 {GROUP} 处理" in text_of(shown.text)
    # The consumer tried it again (still broken: parked again).
    await wait_for(lambda: failures._value.get() > before, timeout=30)


async def test_a_redrive_the_api_refuses_is_shown_with_its_reason(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(hub, client, username)
    page = await client.get("/console/events")
    refused = await client.post(
        "/console/events/redrive",
        data={
            "csrf": csrf_of(page.text),
            "service": "registry",
            "group": "registry.nope",
            "all": "1",
        },
    )
    assert refused.status_code == 404
    assert "接口拒绝了此请求（HTTP 404）" in text_of(refused.text)
    nothing = await client.post(
        "/console/events/webhooks/redrive", data={"csrf": csrf_of(page.text), "seq": "3"}
    )
    assert nothing.status_code == 422
    assert "HTTP 422" in text_of(nothing.text)


async def test_grafana_links_point_at_the_dashboards_the_chart_ships(
    hub: Hub,
    client: httpx.AsyncClient,
    username: str,
    console_settings: ConsoleSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = {json.loads(p.read_text())["uid"] for p in CHART_DASHBOARDS.glob("*.json")}
    assert set(DASHBOARDS) == shipped
    await sign_in_operator(hub, client, username)
    assert "/d/govhub-" not in (await client.get("/console/events")).text
    monkeypatch.setattr(console_settings, "console_grafana_url", "https://grafana.gz.gov.cn/")
    page = (await client.get("/console/events")).text
    for uid in shipped:
        assert f'href="https://grafana.gz.gov.cn/d/{uid}"' in page


async def test_a_data_steward_gets_the_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_as(hub, client, username, role="data_steward")
    refused = await client.get("/console/events")
    assert refused.status_code == 403
    assert "HTTP 403" in text_of(refused.text)
