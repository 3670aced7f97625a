"""Simulation mode (GOVHUB_SIMULATE): a replayed month through the HTTP APIs, as a new city
replays its year. Time moves only with the replay (records' business times, evaluate and
dispatch "as of" a day); every time a case worker sees is a time of the replayed month, and
the warnings' date filter finds them there."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from govhub_common.clock import BUSINESS_TZ
from govhub_common.testing import Hub, running_hub

MONTH_START, MONTH_END = date(2008, 3, 1), date(2008, 3, 31)
MOBILE = "+8613800138000"


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> str:
    return datetime.combine(day, time(hour, minute, second), tzinfo=BUSINESS_TZ).isoformat()


def utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def schema(**items: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "title": title} for name, title in items.items()},
        "required": list(items),
    }


TOPICS = {
    "enterprise_registered": (
        "gz-amr",
        schema(
            uscc="统一社会信用代码", name="企业名称", established_date="成立日期", mobile="联系电话"
        ),
    ),
    "person_died": ("gz-psb", schema(id_number="身份证号", name="姓名", death_date="死亡日期")),
    "pension_paid": ("gz-hrss", schema(id_number="身份证号", name="姓名", paid_date="发放日期")),
    # Named by the same rules (Guangzhou's files install a rule once all its topics exist).
    "local_tax_registered": (
        "gz-ltax",
        schema(uscc="统一社会信用代码", tax_no="税务登记号", registered_date="登记日期"),
    ),
    "national_tax_registered": (
        "gz-ntax",
        schema(uscc="统一社会信用代码", tax_no="税务登记号", registered_date="登记日期"),
    ),
    "death_certified": (
        "gz-health",
        schema(id_number="身份证号", name="姓名", death_date="死亡日期"),
    ),
}
ENTERPRISE, PERSON = "91440101MA59ABCD1D", "440106194001011234"
# What the city publishes, by business date.
PUBLISHED = {
    date(2008, 2, 20): [
        (
            "enterprise_registered",
            {"uscc": ENTERPRISE, "name": "广州示例贸易有限公司", "established_date": "2008-02-20"}
            | {"mobile": MOBILE},
        )
    ],
    date(2008, 2, 25): [
        ("person_died", {"id_number": PERSON, "name": "李四", "death_date": "2008-02-25"})
    ],
    date(2008, 3, 15): [
        ("pension_paid", {"id_number": PERSON, "name": "李四", "paid_date": "2008-03-15"})
    ],
}


async def call(hub: Hub, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    reply = await hub.client.request(method, path, headers=headers, **kw)
    assert reply.status_code in (200, 201), f"{method} {path}: {reply.status_code} {reply.text}"
    return reply.json()


async def set_up_city(hub: Hub) -> None:
    for agency in sorted({owner for owner, _ in TOPICS.values()}):
        reply = await hub.client.post(
            "/exchange/v1/agencies", json={"code": agency, "name": agency}, headers=hub.operator()
        )
        assert reply.status_code in (201, 409), reply.text
    for topic, (owner, items) in TOPICS.items():
        await call(
            hub,
            "POST",
            "/exchange/v1/topics",
            hub.auth(owner, "exchange:catalog"),
            json={"code": topic, "title": topic, "sharing_type": "unconditional", "schema": items},
        )


async def replay(hub: Hub, first: date, last: date) -> None:
    """Each day: dispatch the SMS due in the morning, publish the day's records, settle,
    evaluate as of the day's end, settle."""
    operator = hub.operator()
    day = first
    while day <= last:
        await call(hub, "POST", "/sms/v1/dispatch", operator, json={"as_of": at(day, 9, 30)})
        for n, (topic, data) in enumerate(PUBLISHED.get(day, [])):
            owner = TOPICS[topic][0]
            record = {"record_id": f"{topic}-{day}-{n}", "data": data, "business_time": at(day, 10)}
            await call(
                hub,
                "POST",
                f"/exchange/v1/topics/{topic}/records",
                hub.auth(owner, "exchange:publish"),
                json=[record],
            )
        await hub.wait_idle()
        evaluate = {"as_of": at(day, 23, 59, 59)}
        await call(hub, "POST", "/alerting/v1/evaluate", operator, json=evaluate)
        await hub.wait_idle()
        day += timedelta(days=1)


async def test_a_replayed_month_is_stamped_and_filtered_in_business_time(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wall-clock schedulers are switched on here; simulation mode must hold them back
    # (else the sweep fires 2008's deadlines as of today and the sender sends at today's time).
    monkeypatch.setenv("GOVHUB_SIMULATE", "true")
    monkeypatch.setenv("GOVHUB_ALERTING_SWEEP_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("GOVHUB_SMS_SENDER_ENABLED", "true")
    async with running_hub(fresh_db_url) as hub:
        operator = hub.operator()
        await set_up_city(hub)
        await replay(hub, date(2008, 2, 20), MONTH_END)

        month = await call(
            hub,
            "GET",
            "/alerting/v1/warnings",
            operator,
            params={"from": MONTH_START.isoformat(), "to": MONTH_END.isoformat()},
        )
        by_rule = {w["rule_id"]: w for w in month["data"]}
        assert set(by_rule) == {"pension_after_death", "tax_registration_missing"}
        # Raised on the event path: at the business time of the payment that raised it.
        pension = by_rule["pension_after_death"]
        assert (pension["subject"], utc(pension["raised_at"])) == (
            PERSON,
            utc(at(date(2008, 3, 15), 10)),
        )
        # Raised by the sweep: as of the evaluation that found the deadline missed.
        tax = by_rule["tax_registration_missing"]
        assert tax["subject"] == ENTERPRISE and tax["due_date"] == "2008-03-21"
        assert utc(tax["raised_at"]) == utc(at(date(2008, 3, 22), 23, 59, 59))
        for other in ({"to": "2008-02-29"}, {"from": "2008-04-01"}):
            assert (await call(hub, "GET", "/alerting/v1/warnings", operator, params=other)) == {
                "data": [],
                "next": None,
            }

        # A case worker's move is stamped with the business clock: the month's last evaluation.
        status = await hub.wait_idle()
        assert status["clock"]["simulated"] is True
        end_of_month = utc(at(MONTH_END, 23, 59, 59))
        assert utc(status["clock"]["now"]) == end_of_month
        resolved = await call(
            hub,
            "POST",
            f"/alerting/v1/warnings/{pension['id']}/transitions",
            hub.auth("gz-hrss", "alerting:read", "alerting:work"),
            json={"status": "resolved", "resolution": "penalised", "note": "已追回"},
        )
        assert utc(resolved["resolved_at"]) == end_of_month
        detail = await call(hub, "GET", f"/alerting/v1/warnings/{pension['id']}", operator)
        assert [utc(h["at"]) for h in detail["history"]] == [
            utc(at(date(2008, 3, 15), 10)),
            end_of_month,
        ]

        # The day-20 reminder (due 11 March) was queued then and sent by the next morning's
        # dispatch, not by a sender following the wall clock.
        messages = await call(
            hub,
            "GET",
            "/sms/v1/messages",
            operator,
            params={
                "template": "tax_registration_reminder",
                "created_from": at(MONTH_START, 0),
                "created_to": at(date(2008, 4, 1), 0),
            },
        )
        (message,) = messages["data"]
        assert message["recipient"] == MOBILE
        assert utc(message["created_at"]).astimezone(BUSINESS_TZ).date() == date(2008, 3, 11)
        one = await call(hub, "GET", f"/sms/v1/messages/{message['id']}", operator)
        changes = {h["status"]: utc(h["changed_at"]) for h in one["history"]}
        assert changes["sent"] == utc(at(date(2008, 3, 12), 9, 30))
        assert all(moment.year == 2008 for moment in changes.values())
