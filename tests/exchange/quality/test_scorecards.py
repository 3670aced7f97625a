"""Data-quality scorecards (docs/quality.md) over a replayed month with known faults: a tax
topic whose records arrive three days late, a quality-supervision topic with 5% invalid
credit codes, an optional item left empty by one record in twenty, records sent twice and
changed. Each fault is found in the right dimension of the right agency with the exact
figure, and the API, the hub_scorecards topic and the metrics agree."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from govhub_common.clock import BUSINESS_TZ
from govhub_common.testing import Hub, running_hub
from govhub_demo.identifiers import unified_social_credit_code

DAY = 86400
# Each test's topics are named apart from every other test's: the services keep what they
# learn of a topic version (its validator, its items) for the process, and in one hub a
# topic's version never changes.


def at(day: date, hour: int, minute: int = 0) -> str:  # Asia/Shanghai
    return datetime.combine(day, time(hour, minute), tzinfo=BUSINESS_TZ).isoformat()


def schema(required: dict[str, str], optional: dict[str, str] | None = None) -> dict[str, Any]:
    items = {**required, **(optional or {})}
    properties = {name: {"type": "string", "title": title} for name, title in items.items()}
    properties["uscc"]["format"] = "cn-uscc"
    return {"type": "object", "properties": properties, "required": list(required)}


TOPICS = {
    "business_licensed": (
        "gz-amr",
        schema({"uscc": "统一社会信用代码", "name": "企业名称"}, {"mobile": "联系电话"}),
    ),
    "tax_enrolled": ("gz-ltax", schema({"uscc": "统一社会信用代码", "tax_no": "税号"})),
    "quality_certified": ("gz-qts", schema({"uscc": "统一社会信用代码", "cert_no": "证书编号"})),
}
USCCS = ["91440101MA59ABCD1D", "91350100M000100Y43", "91110108700123456W"]
BAD_USCC = "91440101MA59ABCD1X"  # a wrong check character


async def call(hub: Hub, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    reply = await hub.client.request(method, path, headers=headers, **kw)
    assert reply.status_code in (200, 201), f"{method} {path}: {reply.status_code} {reply.text}"
    return reply.json()


async def publish(
    hub: Hub, topic: str, records: list[dict[str, Any]], owner: str | None = None
) -> dict[str, Any]:
    owner = owner or TOPICS[topic][0]
    return dict(
        await call(
            hub,
            "POST",
            f"/exchange/v1/topics/{topic}/records",
            hub.auth(owner, "exchange:publish"),
            json=records,
        )
    )


async def close(hub: Hub, moment: str) -> dict[str, Any]:
    body = {"as_of": moment}
    return dict(await call(hub, "POST", "/exchange/v1/scorecards/close", hub.operator(), json=body))


async def set_up(hub: Hub, topics: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Each topic's owning agency, then the topic."""
    for topic, (owner, items) in topics.items():
        reply = await hub.client.post(
            "/exchange/v1/agencies", json={"code": owner, "name": owner}, headers=hub.operator()
        )
        assert reply.status_code in (201, 409), reply.text
        body = {"code": topic, "title": topic, "sharing_type": "unconditional", "schema": items}
        await call(
            hub, "POST", "/exchange/v1/topics", hub.auth(owner, "exchange:catalog"), json=body
        )


async def replay_march(hub: Hub) -> None:
    await set_up(hub, TOPICS)
    day = date(2008, 3, 3)
    # The exchange's clock reads noon: what arrives now arrives at noon.
    await close(hub, at(day, 12))
    enterprises = [
        {
            "record_id": f"e{i}",
            "data": {"uscc": USCCS[i % 3], "name": f"企业{i}"}
            | ({"mobile": "13800138000"} if i else {}),
            "business_time": at(day, 10),
        }
        for i in range(20)
    ]
    await publish(hub, "business_licensed", enterprises)
    # Sent again: five unchanged (duplicates), five changed (new versions).
    again = enterprises[:5] + [
        {**r, "data": {**r["data"], "name": r["data"]["name"] + "（更名）"}}
        for r in enterprises[5:10]
    ]
    await publish(hub, "business_licensed", again)
    # Tax registrations that happened three days before they arrive.
    late = [
        {
            "record_id": f"t{i}",
            "data": {"uscc": USCCS[i % 3], "tax_no": f"T{i}"},
            "business_time": at(day - timedelta(days=3), 12),
        }
        for i in range(10)
    ]
    await publish(hub, "tax_enrolled", late)
    certificates = [
        {
            "record_id": f"c{i}",
            "data": {"uscc": BAD_USCC if i == 7 else USCCS[i % 3], "cert_no": f"C{i}"},
            "business_time": at(day, 11),
        }
        for i in range(20)
    ]
    reply = await publish(hub, "quality_certified", certificates)
    assert reply["counts"] == {"accepted": 19, "duplicates": 0, "rejected": 1}


async def scorecard(hub: Hub, agency: str, **params: Any) -> dict[str, Any]:
    page = await call(
        hub,
        "GET",
        "/exchange/v1/scorecards",
        hub.operator(),
        params={"agency": agency, "month": "2008-03", **params},
    )
    (card,) = page["data"]
    return dict(card)


async def test_injected_faults_are_found_in_the_right_dimension(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVHUB_SIMULATE", "true")
    async with running_hub(fresh_db_url) as hub:
        await replay_march(hub)

        tax = await scorecard(hub, "gz-ltax")
        assert tax["period"] == {"from": "2008-03-01", "to": "2008-03-31", "month": "2008-03"}
        timeliness = tax["timeliness"]
        assert (timeliness["records"], timeliness["dated"]) == (10, 10)
        assert timeliness["delay_p50_seconds"] == timeliness["delay_p95_seconds"] == 3 * DAY
        assert (timeliness["same_day"], timeliness["same_day_share"]) == (0, 0.0)
        assert (timeliness["within_target"], timeliness["score"]) == (0, 0.0)
        assert tax["validity"]["rejected_share"] == 0.0

        amr = await scorecard(hub, "gz-amr")
        # Two hours from business time to arrival: on the same day, within the target.
        assert amr["timeliness"]["delay_p50_seconds"] == 2 * 3600
        assert amr["timeliness"]["same_day_share"] == 1.0
        uniqueness = amr["uniqueness"]
        assert (uniqueness["received"], uniqueness["duplicates"], uniqueness["new_versions"]) == (
            30,
            5,
            5,
        )
        assert uniqueness["score"] == round(100 * (1 - 10 / 30), 2)
        # mobile, the only optional item, is filled by 19 of the first 20 and all 5 changed.
        (mobile,) = amr["completeness"]["items"]
        assert (mobile["topic"], mobile["item"], mobile["filled"], mobile["records"]) == (
            "business_licensed",
            "mobile",
            24,
            25,
        )
        assert amr["completeness"]["score"] == 96.0

        qts = await scorecard(hub, "gz-qts")
        validity = qts["validity"]
        assert (validity["received"], validity["rejected"], validity["rejected_share"]) == (
            20,
            1,
            0.05,
        )
        assert validity["faults"] == [
            {"topic": "quality_certified", "item": "uscc", "rule": "format", "records": 1}
        ]
        assert validity["score"] == 95.0

        # The topic's own scorecard says the same of the topic.
        topic_card = await scorecard(hub, "gz-qts", topic="quality_certified")
        assert topic_card["topic"] == "quality_certified"
        assert topic_card["validity"] == validity

        # Quality supervision subscribes to the hub's scorecards; the hub approves.
        subscription = await call(
            hub,
            "POST",
            "/exchange/v1/subscriptions",
            hub.auth("gz-qts", "exchange:subscribe"),
            json={
                "topic": "hub_scorecards",
                "purpose": "本部门数据质量考核",
                "items": ["month", "agency", "topic", "grade", "validity", "scorecard"],
            },
        )
        await call(
            hub,
            "POST",
            f"/exchange/v1/subscriptions/{subscription['id']}/decision",
            hub.auth("gz-datacenter", "exchange:catalog"),
            json={"approve": True},
        )
        # April 1st: March closes, to hub_scorecards and the metrics.
        closed = await close(hub, at(date(2008, 4, 1), 9))
        assert closed["months"] == ["2008-03"]
        cards = await call(
            hub,
            "GET",
            "/exchange/v1/scorecards",
            hub.operator(),
            params={"month": "2008-03", "limit": 200},
        )
        by_topic = await call(
            hub,
            "GET",
            "/exchange/v1/scorecards",
            hub.operator(),
            params={"month": "2008-03", "by": "topic", "limit": 200},
        )
        assert closed["scorecards"] == len(cards["data"]) + len(by_topic["data"])
        # Quality supervision reads them as a subscriber of hub_scorecards.
        feed = await call(
            hub,
            "GET",
            f"/exchange/v1/subscriptions/{subscription['id']}/records",
            hub.auth("gz-qts", "exchange:subscribe"),
            params={"limit": 1000},
        )
        published = {r["record_id"]: r["data"] for r in feed["data"]}
        assert len(published) == closed["scorecards"]
        metrics = (await hub.client.get("/metrics")).text
        grade = qts_card = next(c for c in cards["data"] if c["agency"] == "gz-qts")
        assert (
            f'govhub_exchange_scorecard_score{{agency="gz-qts",dimension="validity"}} '
            f"{qts_card['validity']['score']}" in metrics
        )
        assert (
            f'govhub_exchange_scorecard_grade{{agency="gz-qts"}} {grade["grade"]["score"]}'
            in metrics
        )
        # Closing again publishes nothing more.
        assert (await close(hub, at(date(2008, 4, 2), 9)))["months"] == []


async def test_an_agency_reads_only_its_own_scorecards(hub: Hub) -> None:
    from tests.exchange.support import make_agency

    mine, other = await make_agency(hub), await make_agency(hub)
    headers = hub.auth(mine, "exchange:publish")
    own = await hub.client.get("/exchange/v1/scorecards", headers=headers)
    assert own.status_code == 200, own.text
    assert {c["agency"] for c in own.json()["data"]} == {mine}
    refused = await hub.client.get(
        "/exchange/v1/scorecards", params={"agency": other}, headers=headers
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    # One end alone: the rest (or the start) of its month.
    rest = await hub.client.get(
        "/exchange/v1/scorecards", params={"from": "2008-02-05"}, headers=headers
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["data"][0]["period"] == {
        "from": "2008-02-05",
        "to": "2008-02-29",
        "month": None,
    }
    for params, path in (
        ({"from": "2008-03-05", "to": "2008-03-04"}, "query:$.to"),
        ({"from": "2008-01-01", "to": "2009-01-02"}, "query:$.to"),
        ({"month": "2008-03", "to": "2008-03-04"}, "query:$.month"),
        ({"from": "1800-01-01"}, "query:$.from"),
        ({"month": "2008-13"}, "query:$.month"),
    ):
        bad = await hub.client.get("/exchange/v1/scorecards", params=params, headers=headers)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["path"] == path, bad.json()
    unknown = await hub.client.get(
        "/exchange/v1/scorecards", params={"agency": "t-no-such"}, headers=hub.operator()
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    unauthenticated = await hub.client.get("/exchange/v1/scorecards")
    assert unauthenticated.status_code == 401


def enterprise_number(i: int) -> str:
    return unified_social_credit_code(random.Random(i), "440106")


async def test_late_tax_records_contradict_and_miss_the_rule_deadline(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tax registrations that arrive three days after they happened: later than a 3-day rule's
    window (the licences' warnings were raised meanwhile), and four of them with an address
    that contradicts market regulation's, one corrected five days on."""
    monkeypatch.setenv("GOVHUB_SIMULATE", "true")
    topics = {
        "licence_issued": (
            "gz-amr",
            schema(
                {"uscc": "统一社会信用代码", "name": "企业名称", "address": "住所"}
                | {"established_date": "成立日期"}
            ),
        ),
        "tax_registered": (
            "gz-ltax",
            schema(
                {"uscc": "统一社会信用代码", "tax_no": "税号", "registered_date": "登记日期"},
                {"address": "生产经营地址"},
            ),
        ),
    }
    async with running_hub(fresh_db_url) as hub:
        operator = hub.operator()
        await set_up(hub, topics)
        await hub.wait_idle()  # the registry and alerting know the topics before naming them
        # Market regulation is the authority on an enterprise's address; tax states one too.
        for topic, valid_from, attributes in (
            ("licence_issued", "established_date", {"name": 1, "address": 1}),
            ("tax_registered", "registered_date", {"address": 2}),
        ):
            mapping = {
                "topic": topic,
                "subject": "legal_entity",
                "key": "uscc",
                "valid_from": valid_from,
                "attributes": {n: {"field": n, "rank": r} for n, r in attributes.items()},
            }
            await call(hub, "POST", "/registry/v1/mappings", operator, json=mapping)
        rule = {
            "id": "tax_within_3_days",
            "kind": "absence",
            "title": "三日内未办税务登记",
            "severity": "high",
            "assigned_agency": "gz-ltax",
            "trigger": {
                "topic": "licence_issued",
                "key": "uscc",
                "date": "established_date",
            },
            "expected": [{"topic": "tax_registered", "key": "uscc", "date": "registered_date"}],
            "within": "P3D",
        }
        await call(hub, "POST", "/alerting/v1/rules", operator, json=rule)
        await hub.wait_idle()

        licensed = date(2008, 3, 3)
        await close(hub, at(licensed, 12))
        uscc = [enterprise_number(i) for i in range(10)]
        await publish(
            hub,
            "licence_issued",
            owner="gz-amr",
            records=[
                {
                    "record_id": f"e{i}",
                    "data": {"uscc": uscc[i], "name": f"企业{i}", "address": f"天河路{i}号"}
                    | {"established_date": "2008-03-03"},
                    "business_time": at(licensed, 10),
                }
                for i in range(10)
            ],
        )
        await hub.wait_idle()
        # The deadline passes without a tax registration: ten warnings for tax.
        evaluate = {"as_of": at(date(2008, 3, 7), 23, 59)}
        fired = await call(hub, "POST", "/alerting/v1/evaluate", operator, json=evaluate)
        assert fired["warnings_raised"] == 10
        await hub.wait_idle()
        # The registrations made on 5 March arrive on the 8th; four addresses differ.
        registered = date(2008, 3, 5)
        await close(hub, at(date(2008, 3, 8), 14))

        def tax(i: int, address: str, when: str) -> dict[str, Any]:
            data = {"uscc": uscc[i], "tax_no": f"T{i}", "registered_date": "2008-03-05"}
            return {
                "record_id": f"t{i}",
                "data": data | {"address": address},
                "business_time": when,
            }

        await publish(
            hub,
            "tax_registered",
            owner="gz-ltax",
            records=[
                tax(i, f"越秀路{i}号" if i < 4 else f"天河路{i}号", at(registered, 12))
                for i in range(10)
            ],
        )
        await hub.wait_idle()
        # On the 10th tax corrects the first address: that conflict is settled.
        await close(hub, at(date(2008, 3, 10), 12))
        await publish(
            hub, "tax_registered", [tax(0, "天河路0号", at(date(2008, 3, 10), 10))], "gz-ltax"
        )
        await hub.wait_idle()

        card = await scorecard(hub, "gz-ltax")
        timeliness = card["timeliness"]
        assert (timeliness["records"], timeliness["dated"], timeliness["same_day"]) == (11, 11, 1)
        assert timeliness["delay_p50_seconds"] == timeliness["delay_p95_seconds"] == 3 * DAY
        assert timeliness["later_than_deadlines"] == [
            {
                "topic": "tax_registered",
                "rule_id": "tax_within_3_days",
                "window_days": 3,
                "later": 10,
                "share": round(10 / 11, 6),
            }
        ]
        consistency = card["consistency"]
        assert (consistency["conflicts"], consistency["settled"]) == (4, 1)
        assert consistency["conflict_share"] == round(4 / 11, 6)
        assert consistency["settled_share"] == 0.25
        # Detected at the registrations' business time (5 March, noon), settled on the 10th
        # at ten: five days less two hours.
        assert consistency["median_settle_seconds"] == 5 * DAY - 2 * 3600
        assert card["uniqueness"]["new_versions"] == 1
        responsiveness = card["responsiveness"]
        assert (responsiveness["warnings_assigned"], responsiveness["warnings_followed_up"]) == (
            10,
            10,
        )
        # Market regulation contradicts nobody: the authority is never the dissenter.
        amr = await scorecard(hub, "gz-amr")
        assert amr["consistency"]["conflicts"] == 0
        assert amr["timeliness"]["later_than_deadlines"][0]["later"] == 0
