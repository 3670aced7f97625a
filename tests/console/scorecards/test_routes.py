"""/console/scorecards over a replayed March with known faults (as
tests/exchange/quality/test_scorecards.py replays one, on a simulated hub of its own): the
operator's ranking gives every agency the grade the API gives, in order; an agency's page
shows its faults and delays as a person reads them; an agency's own people see their own
scorecard and get the API's refusal for another agency's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from govhub_common.clock import BUSINESS_TZ
from govhub_common.settings import CommonSettings
from govhub_common.testing import Hub, create_test_database, drop_test_database, running_hub
from govhub_console.scorecards.service import score_text
from tests.console.ops.support import sign_in_as, sign_in_operator, text_of
from tests.console.support import browser, csrf_of

MONTH = "2008-03"
SCORECARDS = "/exchange/v1/scorecards"
AMR, LTAX, QTS = "sc-amr", "sc-ltax", "sc-qts"
NAMES = {
    AMR: "市场监督管理局（评分卡）",
    LTAX: "地方税务局（评分卡）",
    QTS: "质量技术监督局（评分卡）",
}
LICENCES, TAX, CERTIFICATES = "sc_business_licensed", "sc_tax_enrolled", "sc_quality_certified"
USCCS = ["91440101MA59ABCD1D", "91350100M000100Y43", "91110108700123456W"]
BAD_USCC = "91440101MA59ABCD1X"  # a wrong check character


def at(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour), tzinfo=BUSINESS_TZ).isoformat()


def schema(required: list[str], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: {"type": "string", "title": name} for name in [*required, *optional]
    }
    properties["uscc"]["format"] = "cn-uscc"
    return {"type": "object", "properties": properties, "required": required}


async def call(hub: Hub, path: str, headers: dict[str, str], body: Any) -> Any:
    reply = await hub.client.post(path, json=body, headers=headers)
    assert reply.status_code in (200, 201), f"{path}: {reply.status_code} {reply.text}"
    return reply.json()


async def close(hub: Hub, moment: str) -> list[str]:
    """Publish the months ended; in simulation, the exchange's clock reads `moment` after."""
    closed = await call(hub, f"{SCORECARDS}/close", hub.operator(), {"as_of": moment})
    return list(closed["months"])


async def replay_march(hub: Hub) -> None:
    """Licences that arrive two hours after they happen, all but one with the optional
    mobile; tax enrolments three days late; certificates with one bad credit code in 20."""
    topics = {
        LICENCES: (AMR, schema(["uscc", "name"], ("mobile",))),
        TAX: (LTAX, schema(["uscc", "tax_no"])),
        CERTIFICATES: (QTS, schema(["uscc", "cert_no"])),
    }
    for code, name in NAMES.items():
        await call(hub, "/exchange/v1/agencies", hub.operator(), {"code": code, "name": name})
    for topic, (owner, items) in topics.items():
        body = {"code": topic, "title": topic, "sharing_type": "unconditional", "schema": items}
        await call(hub, "/exchange/v1/topics", hub.auth(owner, "exchange:catalog"), body)
    day = date(2008, 3, 3)
    assert await close(hub, at(day, 12)) == []  # what arrives now arrives at noon

    async def publish(topic: str, records: list[dict[str, Any]]) -> dict[str, int]:
        path = f"/exchange/v1/topics/{topic}/records"
        headers = hub.auth(topics[topic][0], "exchange:publish")
        return dict((await call(hub, path, headers, records))["counts"])

    licences = [
        {
            "record_id": f"e{i}",
            "data": {"uscc": USCCS[i % 3], "name": f"企业{i}"}
            | ({"mobile": "13800138000"} if i else {}),
            "business_time": at(day, 10),
        }
        for i in range(20)
    ]
    assert (await publish(LICENCES, licences))["accepted"] == 20
    enrolments = [
        {
            "record_id": f"t{i}",
            "data": {"uscc": USCCS[i % 3], "tax_no": f"T{i}"},
            "business_time": at(day - timedelta(days=3), 12),
        }
        for i in range(10)
    ]
    assert (await publish(TAX, enrolments))["accepted"] == 10
    certificates = [
        {
            "record_id": f"c{i}",
            "data": {"uscc": BAD_USCC if i == 7 else USCCS[i % 3], "cert_no": f"C{i}"},
            "business_time": at(day, 11),
        }
        for i in range(20)
    ]
    assert (await publish(CERTIFICATES, certificates))["rejected"] == 1


@pytest.fixture(scope="module")
async def march(admin_db_url: str) -> AsyncIterator[Hub]:
    """A simulated hub that replayed March 2008 and closed it on April 1st (so the last
    month ended, the pages' default, is March)."""
    url = await create_test_database(admin_db_url)
    try:
        async with running_hub(url, settings=CommonSettings(simulate=True)) as hub:
            await replay_march(hub)
            assert await close(hub, at(date(2008, 4, 1), 9)) == [MONTH]
            yield hub
    finally:
        await drop_test_database(admin_db_url, url)


@pytest.fixture
async def client(march: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(march) as client:
        yield client


async def api_cards(hub: Hub, **params: Any) -> list[dict[str, Any]]:
    reply = await hub.client.get(
        SCORECARDS, params={"month": MONTH, "limit": 500, **params}, headers=hub.operator()
    )
    assert reply.status_code == 200, reply.text
    cards: list[dict[str, Any]] = reply.json()["data"]
    return cards


def cells(page: str, ident: str) -> list[str]:
    """The words of each cell of the row <tr id="ident">."""
    match = re.search(rf'<tr id="{re.escape(ident)}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row {ident} in the page"
    return [text_of(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match.group(1), re.S)]


def table(page: str, css_class: str) -> str:
    """The words of the table of that class."""
    match = re.search(rf'<table class="[^"]*\b{css_class}\b[^"]*">(.*?)</table>', page, re.S)
    assert match, f"no table .{css_class} in the page"
    return text_of(match.group(1))


def figure(page: str, css_class: str) -> str:
    match = re.search(rf'<dd class="{css_class}">(.*?)</dd>', page, re.S)
    assert match, f"no <dd class={css_class}> in the page"
    return text_of(match.group(1))


async def test_the_operator_ranks_every_agency_with_the_apis_grades(
    march: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(march, client, username)
    cards = await api_cards(march)
    assert {AMR, LTAX, QTS} <= {c["agency"] for c in cards}
    assert any(c["grade"]["score"] is None for c in cards)  # the operator's own agency

    # The default month is the last one ended by the hub's clock: March.
    reply = await client.get("/console/scorecards")
    assert reply.status_code == 200, reply.text
    page = reply.text
    assert 'name="month" type="month" value="2008-03"' in page
    dimensions = ("timeliness", "validity", "uniqueness", "consistency", "completeness")
    for card in cards:
        grade = card["grade"]
        # rank, agency, grade, letter, change (none: February has no grades), dimensions
        assert cells(page, f"agency-{card['agency']}")[2:] == [
            score_text(grade["score"]),
            grade["letter"] or "—",
            "—",
            *(score_text(card[d]["score"]) for d in dimensions),
            score_text(card["responsiveness"]["score"]),
        ]
        assert f'href="/console/scorecards/{card["agency"]}?month=2008-03"' in page
    # Best grade first, the ungraded last, unranked.
    shown = re.findall(r'<tr id="agency-([^"]+)"', page)
    graded = sorted(
        (c for c in cards if c["grade"]["score"] is not None), key=lambda c: -c["grade"]["score"]
    )
    assert shown[: len(graded)] == [c["agency"] for c in graded]
    # Equal grades share a rank (1, 1, 3); the ungraded have none.
    scores = [c["grade"]["score"] for c in graded]
    assert [cells(page, f"agency-{a}")[0] for a in shown] == [
        *(str(1 + scores.index(score)) for score in scores),
        *([""] * (len(shown) - len(graded))),
    ]
    for code, name in NAMES.items():
        assert cells(page, f"agency-{code}")[1] == f"{name} {code}"
    # The tax bureau's three-day delays: a timeliness of 0, the others' records on time.
    assert cells(page, f"agency-{LTAX}")[5] == "0.00"
    assert cells(page, f"agency-{AMR}")[5] == "100.00"

    # Another month through the plain GET form: February has no data at all.
    february = await client.get("/console/scorecards", params={"month": "2008-02"})
    assert february.status_code == 200
    assert "2008-02 尚无任何部门有可评分的数据" in text_of(february.text)
    assert 'value="2008-02"' in february.text


async def test_an_agencys_page_shows_its_faults_delays_topics_and_months(
    march: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(march, client, username)
    (qts,) = await api_cards(march, agency=QTS)

    reply = await client.get(f"/console/scorecards/{QTS}", params={"month": MONTH})
    assert reply.status_code == 200, reply.text
    page = reply.text
    assert f"数据质量评分卡：{NAMES[QTS]} {QTS}" in text_of(page)
    # One credit code in twenty with a wrong check character.
    faults = table(page, "scorecards-faults")
    assert f"{CERTIFICATES} uscc format 1" in faults
    assert "被拒收的记录 1（5.0%）" in text_of(page)
    assert figure(page, "scorecards-grade") == score_text(qts["grade"]["score"])
    # topic, grade, letter, change, then timeliness and validity
    assert cells(page, f"topic-{CERTIFICATES}")[5] == "95.00"
    assert re.findall(r'<tr id="month-([^"]+)"', page) == [
        "2007-10", "2007-11", "2007-12", "2008-01", "2008-02", MONTH
    ]  # fmt: skip
    for month in ("2007-10", "2007-11", "2007-12", "2008-01", "2008-02"):
        assert cells(page, f"month-{month}") == [month, "—", "—", "—"]
    assert cells(page, f"month-{MONTH}") == [
        MONTH, score_text(qts["grade"]["score"]), qts["grade"]["letter"], "—"
    ]  # fmt: skip

    tax = await client.get(f"/console/scorecards/{LTAX}", params={"month": MONTH})
    assert tax.status_code == 200, tax.text
    # Registrations arriving three days after they happened.
    assert figure(tax.text, "scorecards-p50") == "3 天"
    assert figure(tax.text, "scorecards-p95") == "3 天"
    assert "当日送达 0（0.0%）" in text_of(tax.text)
    amr = await client.get(f"/console/scorecards/{AMR}", params={"month": MONTH})
    # The optional mobile number, filled by 24 of 25 records.
    assert f"{LICENCES} mobile 19 20 95.0%" in text_of(amr.text)
    assert figure(amr.text, "scorecards-p50") == "2 小时"

    # In English, the same figures in English words.
    switched = await client.post(
        "/console/locale",
        data={"locale": "en", "next": "/console/", "csrf": csrf_of(tax.text)},
    )
    assert switched.status_code == 303
    english = await client.get(f"/console/scorecards/{LTAX}", params={"month": MONTH})
    assert figure(english.text, "scorecards-p50") == "3 days"
    assert "Arrived the same day 0 (0.0%)" in text_of(english.text)


@pytest.mark.parametrize("role", ["data_steward", "case_officer"])
async def test_an_agencys_person_sees_its_own_scorecard_only(
    march: Hub, client: httpx.AsyncClient, username: str, role: str
) -> None:
    await sign_in_as(march, client, username, role=role, agency=QTS)
    home = await client.get("/console/")
    assert 'href="/console/scorecards"' in home.text

    own = await client.get("/console/scorecards", params={"month": MONTH})
    assert own.status_code == 200, own.text
    assert f"数据质量评分卡：{QTS}" in text_of(own.text)
    assert f"{CERTIFICATES} uscc format 1" in table(own.text, "scorecards-faults")
    assert "scorecards-ranking" not in own.text
    assert f'id="agency-{AMR}"' not in own.text

    other = await client.get(f"/console/scorecards/{AMR}", params={"month": MONTH})
    assert other.status_code == 403
    assert other.headers["content-type"].startswith("text/html")
    assert "接口拒绝了此请求（HTTP 403）" in text_of(other.text)
    assert "an agency reads only its own scorecards" in text_of(other.text)


async def test_a_malformed_month_is_the_apis_problem_on_the_page(
    march: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(march, client, username)
    for path in ("/console/scorecards", f"/console/scorecards/{QTS}"):
        reply = await client.get(path, params={"month": "2008-13"})
        assert reply.status_code == 422, path
        assert "接口拒绝了此请求（HTTP 422）" in text_of(reply.text)
