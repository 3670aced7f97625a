"""The case officer's pages (预警) through the console, over a hub with real warnings: an
absence rule assigned to a tax bureau, licences published by market regulation through the
exchange, deadlines passed through alerting's evaluate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from govhub_common.clock import BUSINESS_TZ
from govhub_common.testing import Hub
from tests.alerting.rules.test_catalog_events import settled
from tests.alerting.support import days, evaluate, licence, next_year, warnings_of
from tests.alerting.warnings.test_case_officer_view import absence_rule, post_json, valid_uscc
from tests.console.conftest import AGENCY
from tests.console.support import browser, csrf_of, login, make_account
from tests.exchange.support import BASE, agency_headers, make_agency, make_topic, unique


@dataclass
class Scene:
    tax: str
    other: str
    rule_id: str
    year: int
    first: str  # the USCC whose warning was raised first
    second: str
    ids: dict[str, int]
    raised: dict[str, date]  # business date each was raised on


@pytest.fixture
async def scene(hub: Hub) -> Scene:
    """Two warnings of one rule assigned to the tax bureau, raised one after the other; the
    bureau holds no grant to market regulation's licences, so their items are withheld."""
    amr = await make_agency(hub, "市场监督管理局")
    tax = await make_agency(hub, "地方税务局")
    other = await make_agency(hub, "民政局")
    licences = await make_topic(hub, amr, sharing_type="conditional")
    registrations = await make_topic(hub, tax)
    await settled(hub)
    rule_id = unique("tax_")
    await post_json(
        hub, "/alerting/v1/rules", absence_rule(rule_id, tax, licences, registrations),
        hub.operator(),
    )  # fmt: skip
    day0 = date(next_year(), 3, 1)
    first, second = valid_uscc(), valid_uscc()
    for code, day in ((first, day0), (second, day0 + days(1))):
        published = await post_json(
            hub,
            f"{BASE}/topics/{licences}/records",
            [
                {
                    "record_id": code,
                    "data": {**licence(code, day), "legal_rep_id": "11010519491231002X"},
                }
            ],
            agency_headers(hub, amr),
        )
        assert published["counts"]["accepted"] == 1, published
    await settled(hub)
    await evaluate(hub, day0 + days(31))  # the first deadline has passed
    await evaluate(hub, day0 + days(32))  # and then the second
    raised = await warnings_of(hub, tax, rule=rule_id)
    ids = {w["subject"]: w["id"] for w in raised}
    assert set(ids) == {first, second}, raised
    days_raised = {
        w["subject"]: datetime.fromisoformat(w["raised_at"]).astimezone(BUSINESS_TZ).date()
        for w in raised
    }
    return Scene(tax, other, rule_id, day0.year, first, second, ids, days_raised)


async def signed_in(client: httpx.AsyncClient, hub: Hub, username: str, agency: str) -> None:
    password = await make_account(hub, username, agency=agency, role="case_officer", name="张伟")
    answer = await login(client, username, password)
    assert answer.status_code == 303, answer.text


def order_of(page: str, *codes: str) -> list[str]:
    return sorted(codes, key=page.index)


def follow_up_of(page: str, month: str) -> str:
    """The follow-up rate shown for a month in the figures' table."""
    match = re.search(
        rf'<th scope="row">{month}</th>.*?<td class="num follow-up">([^<]*)</td>', page, re.S
    )
    assert match, page
    return match.group(1)


async def post_action(
    client: httpx.AsyncClient, warning_id: int, action: str, **fields: str
) -> httpx.Response:
    page = await client.get(f"/console/warnings/{warning_id}")
    assert page.status_code == 200, page.text
    return await client.post(
        f"/console/warnings/{warning_id}/{action}", data={"csrf": csrf_of(page.text), **fields}
    )


async def test_the_queue_lists_the_agencys_warnings_with_filters_and_order(
    hub: Hub, scene: Scene, username: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with browser(hub) as client:
        await signed_in(client, hub, username, scene.tax)
        queue = await client.get("/console/warnings")
        assert queue.status_code == 200, queue.text
        page = queue.text
        assert order_of(page, scene.second, scene.first) == [scene.first, scene.second]
        assert "应办未办税务登记（测试）" in page  # the rule's title, in rows and the select
        assert f'<option value="{scene.rule_id}"' in page
        assert "待处理" in page
        assert f'href="/console/warnings/{scene.ids[scene.first]}"' in page

        newest = (await client.get("/console/warnings", params={"order": "newest"})).text
        assert order_of(newest, scene.second, scene.first) == [scene.second, scene.first]

        async def listed(**params: Any) -> set[str]:
            answer = await client.get("/console/warnings", params=params)
            assert answer.status_code == 200, answer.text
            return {code for code in (scene.first, scene.second) if code in answer.text}

        both = {scene.first, scene.second}
        first_day, second_day = scene.raised[scene.first], scene.raised[scene.second]
        assert first_day < second_day
        assert await listed(rule=scene.rule_id, status="open") == both
        assert await listed(status="resolved") == set()
        assert await listed(**{"from": second_day.isoformat()}) == {scene.second}
        assert await listed(to=first_day.isoformat()) == {scene.first}
        # Ages count from the hub's business date: ten days after the second was raised.
        later = datetime.combine(second_day + timedelta(days=10), time(12), tzinfo=BUSINESS_TZ)
        monkeypatch.setattr(hub.runtime.clock, "now", lambda: later)
        aged = (await client.get("/console/warnings", params={"order": "newest"})).text
        assert re.search(r'<td class="num">10</td>', aged) and '<td class="num">11</td>' in aged
        assert await listed(older_than="10") == both
        assert await listed(older_than="11") == {scene.first}
        assert await listed(older_than="12") == set()
        # An empty field is no filter (a GET form sends them all).
        assert await listed(rule="", status="", **{"from": "", "to": ""}, older_than="") == both

        # A value the form could not have sent is named, and the rest still answers.
        odd = await client.get("/console/warnings", params={"from": "2100-13-45"})
        assert odd.status_code == 200
        assert "日期格式无效" in odd.text and scene.first in odd.text


async def test_a_case_officer_reads_claims_and_resolves_a_warning(
    hub: Hub, scene: Scene, username: str
) -> None:
    warning_id = scene.ids[scene.first]
    month = f"{scene.year}-03"
    async with browser(hub) as client:
        await signed_in(client, hub, username, scene.tax)
        shown = await client.get(f"/console/warnings/{warning_id}")
        assert shown.status_code == 200, shown.text
        page = shown.text
        assert scene.first in page and "待处理" in page
        # No grant: the licence's items are named as withheld, never shown.
        withheld = re.search(r"因授权范围未显示：([^<]*)</p>", page)
        assert withheld, page
        assert {"name", "legal_rep_name", "mobile"} <= set(withheld.group(1).split(", "))
        assert "广州市天河区示范贸易有限公司" not in page
        assert "13800138000" not in page  # the reminder's recipient comes masked
        assert "预警系统" in page  # the raising, by alerting

        figures = await client.get("/console/warnings/figures", params={"year": scene.year})
        assert figures.status_code == 200, figures.text
        assert "<svg" in figures.text and "<title" in figures.text
        assert follow_up_of(figures.text, month) == "0.0%"
        assert follow_up_of(figures.text, f"{scene.year}-07") == "—"  # no activity

        claimed = await post_action(client, warning_id, "claim", note="已电话联系企业")
        assert claimed.status_code == 303
        assert claimed.headers["location"] == f"/console/warnings/{warning_id}?done=investigating"
        page = (await client.get(claimed.headers["location"])).text
        assert "已认领" in page and "核查中" in page

        resolved = await post_action(
            client, warning_id, "resolve", resolution="complied_late", note="企业已补办税务登记"
        )
        assert resolved.status_code == 303, resolved.text
        page = (await client.get(resolved.headers["location"])).text
        assert "预警已办结" in page and "逾期补办" in page
        history = page[page.index('id="history-heading"') :]
        assert f"{scene.tax}/local:{username}" in history
        assert "企业已补办税务登记" in history

        # The API's refusal of a move is shown on the page, with its status.
        again = await post_action(client, warning_id, "reopen")
        assert again.status_code == 409
        assert "操作未完成" in again.text and "resolved" in again.text

        figures = await client.get("/console/warnings/figures", params={"year": scene.year})
        assert follow_up_of(figures.text, month) == "50.0%"

    detail = (
        await hub.client.get(
            f"/alerting/v1/warnings/{warning_id}", headers=hub.auth(scene.tax, "alerting:read")
        )
    ).json()
    assert detail["status"] == "resolved" and detail["resolution"] == "complied_late"
    assert detail["history"][-1]["actor"] == f"{scene.tax}/local:{username}"


async def test_refusals_and_silences_are_shown_on_the_warning(
    hub: Hub, scene: Scene, username: str
) -> None:
    warning_id = scene.ids[scene.second]
    async with browser(hub) as client:
        await signed_in(client, hub, username, scene.tax)
        # Resolving without a resolution: the API's 422 is shown, nothing changes.
        missing = await post_action(client, warning_id, "resolve", resolution="", note="")
        assert missing.status_code == 422
        assert "操作未完成" in missing.text and "resolution" in missing.text
        assert "待处理" in missing.text

        # Without the page's CSRF token the console refuses before any API call.
        forged = await client.post(f"/console/warnings/{warning_id}/claim", data={"csrf": "forged"})
        assert forged.status_code == 403

        until = date(scene.year, 6, 30)
        silenced = await post_action(
            client, warning_id, "silence", until=until.isoformat(), reason="企业已申请延期办理"
        )
        assert silenced.status_code == 303, silenced.text
        page = (await client.get(silenced.headers["location"])).text
        assert "已设置静默" in page

        bad = await post_action(client, warning_id, "silence", until="", reason="理由")
        assert bad.status_code == 422 and "until" in bad.text

    silences = (
        await hub.client.get(
            "/alerting/v1/silences",
            params={"rule": scene.rule_id},
            headers=hub.auth(scene.tax, "alerting:read"),
        )
    ).json()["data"]
    assert [(s["subject"], s["until"]) for s in silences] == [(scene.second, until.isoformat())]
    assert silences[0]["created_by"] == f"{scene.tax}/local:{username}"


async def test_another_agencys_officer_gets_nothing_of_the_warning(
    hub: Hub, scene: Scene, username: str
) -> None:
    warning_id = scene.ids[scene.first]
    async with browser(hub) as client:
        await signed_in(client, hub, username, scene.other)
        shown = await client.get(f"/console/warnings/{warning_id}")
        assert shown.status_code == 404
        assert scene.first not in shown.text and "应办未办" not in shown.text
        queue = await client.get("/console/warnings")
        assert queue.status_code == 200
        assert scene.first not in queue.text and scene.second not in queue.text
        # Nor can it act on it.
        claimed = await post_action_blind(client, warning_id, "claim")
        assert claimed.status_code == 404
        assert scene.first not in claimed.text


async def post_action_blind(
    client: httpx.AsyncClient, warning_id: int, action: str
) -> httpx.Response:
    """An action on a warning the person cannot open: the CSRF token of their queue page."""
    page = await client.get("/console/warnings")
    return await client.post(
        f"/console/warnings/{warning_id}/{action}", data={"csrf": csrf_of(page.text)}
    )


async def test_a_person_without_the_case_officers_scope_gets_the_apis_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    password = await make_account(hub, username, agency=AGENCY, role="data_steward")
    assert (await login(client, username, password)).status_code == 303
    for path in ("/console/warnings", "/console/warnings/figures", "/console/warnings/1"):
        refused = await client.get(path)
        assert refused.status_code == 403, (path, refused.text)
        assert "服务拒绝了该请求（403）" in refused.text


def test_times_are_shown_in_shanghai() -> None:
    from govhub_console.warnings.service import business_day, shown_time

    assert shown_time("2026-04-01T16:30:00Z") == "2026-04-02 00:30"
    assert business_day("2026-04-01T16:30:00+00:00") == date(2026, 4, 2)
