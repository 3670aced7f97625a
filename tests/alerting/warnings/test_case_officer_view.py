"""What a case officer is shown of a warning through the API (the console shows no more):
the evidence restricted to the agency's grants with personal data masked, the reminders sent
with their delivery status, and the queue newest or oldest first."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import sqlalchemy as sa
from stdnum.cn import uscc as uscc_number

from govhub_common.problem_codes import ProblemCode
from govhub_common.testing import Hub, running_hub, wait_for
from tests.alerting.rules.test_catalog_events import settled
from tests.alerting.support import days, evaluate, licence, moment, record_event, uscc
from tests.exchange.support import BASE, agency_headers, make_agency, make_topic, unique

READER = ("alerting:read", "alerting:work")


def valid_uscc() -> str:
    body = "91440101" + "".join(random.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc_number.calc_check_digit(body)


async def get_json(hub: Hub, url: str, headers: dict[str, str], **params: Any) -> Any:
    response = await hub.client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def post_json(hub: Hub, url: str, body: Any, headers: dict[str, str]) -> Any:
    response = await hub.client.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def absence_rule(rule_id: str, agency: str, trigger: str, expected: str) -> dict[str, Any]:
    """A rule reading personal items of the licence (the reminder's recipient and a
    parameter), so they are part of the evidence."""
    return {
        "id": rule_id,
        "kind": "absence",
        "title": "应办未办税务登记（测试）",
        "severity": "high",
        "assigned_agency": agency,
        "trigger": {"topic": trigger, "key": "uscc", "date": "established_date"},
        "expected": [{"topic": expected, "key": "uscc", "date": "established_date"}],
        "within": "P30D",
        "reminders": [
            {
                "after": "P20D",
                "template": "tax_registration_reminder",
                "recipient": {"field": "mobile"},
                "params": {"name": "name", "deadline": "$deadline", "rep": "legal_rep_name"},
            }
        ],
    }


async def the_evidence(hub: Hub, warning_id: int, headers: dict[str, str]) -> dict[str, Any]:
    detail = await get_json(hub, f"/alerting/v1/warnings/{warning_id}", headers)
    (evidence,) = detail["evidence"]
    return dict(evidence)


async def test_the_evidence_shows_an_agency_only_what_its_grants_allow(
    hub: Hub, day0: date
) -> None:
    amr = await make_agency(hub, "市场监督管理局")
    tax = await make_agency(hub, "地方税务局")
    # Licences are shared on request (conditional); legal_rep_name and mobile are personal.
    licences = await make_topic(hub, amr, sharing_type="conditional")
    registrations = await make_topic(hub, tax)
    await settled(hub)
    operator = hub.operator()
    for rule_id, agency in ((unique("tax_"), tax), (unique("amr_"), amr)):
        await post_json(
            hub, "/alerting/v1/rules", absence_rule(rule_id, agency, licences, registrations),
            operator,
        )  # fmt: skip
    code = valid_uscc()
    record = {**licence(code, day0), "legal_rep_id": "11010519491231002X"}
    published = await post_json(
        hub,
        f"{BASE}/topics/{licences}/records",
        [{"record_id": code, "data": record}],
        agency_headers(hub, amr),
    )
    assert published["counts"]["accepted"] == 1, published
    await settled(hub)
    await evaluate(hub, day0 + days(31))
    officer = hub.auth(tax, *READER)
    (listed,) = (await get_json(hub, "/alerting/v1/warnings", officer, subject=code))["data"]
    warning_id = listed["id"]

    # No grant yet: of market regulation's licence the tax bureau sees the subject only.
    (evidence,) = listed["evidence"]
    assert evidence["publisher"] == amr and evidence["subject"] == code
    assert evidence["data"] == {"uscc": code}
    read = {"established_date", "name", "legal_rep_name", "mobile"}
    assert read <= set(evidence["withheld"])
    assert await the_evidence(hub, warning_id, officer) == evidence

    # A request is not a grant.
    requested = await post_json(
        hub,
        f"{BASE}/subscriptions",
        {"topic": licences, "purpose": "税务登记比对", "items": ["uscc", "established_date", "mobile"]},
        agency_headers(hub, tax),
    )  # fmt: skip
    assert requested["status"] == "pending"
    await settled(hub)
    assert (await the_evidence(hub, warning_id, officer))["data"] == {"uscc": code}

    # Approved: the granted items, the personal one masked; never the others.
    await post_json(
        hub,
        f"{BASE}/subscriptions/{requested['id']}/decision",
        {"approve": True, "reason": "依法共享"},
        agency_headers(hub, amr),
    )
    await settled(hub)
    granted = await the_evidence(hub, warning_id, officer)
    assert granted["data"] == {
        "uscc": code,
        "established_date": day0.isoformat(),
        "mobile": "+86138****8000",
    }
    assert granted["masked"] == ["mobile"]
    assert "name" in granted["withheld"] and "legal_rep_name" in granted["withheld"]
    assert "mobile" not in granted["withheld"]

    # Operators see every item the rule reads, personal ones masked.
    whole = await the_evidence(hub, warning_id, operator)
    assert whole["withheld"] == []
    assert set(whole["data"]) >= read | {"uscc"}
    assert whole["data"]["name"] == record["name"]
    assert whole["data"]["mobile"] == "+86138****8000"
    assert whole["data"]["legal_rep_name"] == "张*"
    assert set(whole["masked"]) == {"mobile", "legal_rep_name"}

    # The publishing agency sees its own record whole, unmasked.
    own = hub.auth(amr, *READER)
    (amr_warning,) = (await get_json(hub, "/alerting/v1/warnings", own, subject=code))["data"]
    (own_evidence,) = amr_warning["evidence"]
    assert own_evidence["withheld"] == [] and own_evidence["masked"] == []
    assert {k: record[k] for k in own_evidence["data"]} == own_evidence["data"]
    assert own_evidence["data"]["mobile"] == "+8613800138000"

    # Revoked: nothing granted any more.
    await post_json(
        hub,
        f"{BASE}/subscriptions/{requested['id']}/revoke",
        {"reason": "比对结束"},
        agency_headers(hub, tax),
    )
    await settled(hub)
    assert (await the_evidence(hub, warning_id, officer))["data"] == {"uscc": code}


async def test_an_alerting_that_missed_the_decisions_learns_them_at_the_exchanges_start(
    fresh_db_url: str,
) -> None:
    """An upgrade: grants approved before alerting consumed the subscription events come
    with the exchange's announcement at its next start."""
    async with running_hub(fresh_db_url) as hub:
        owner, reader = await make_agency(hub), await make_agency(hub)
        topic = await make_topic(hub, owner)  # unconditional: approved at once
        reply = await post_json(
            hub,
            f"{BASE}/subscriptions",
            {"topic": topic, "purpose": "税务登记比对", "items": ["uscc", "name"]},
            agency_headers(hub, reader),
        )
        assert reply["status"] == "approved"
        await settled(hub)
        async with hub.runtime.db.session() as session:
            learnt = await session.execute(
                sa.text("SELECT subscriber, topic, items FROM alerting.grants")
            )
            assert [tuple(r) for r in learnt] == [(reader, topic, ["name", "uscc"])]
            # As an alerting from before these events would have it.
            await session.execute(sa.text("DELETE FROM alerting.grants"))
            await session.commit()

    async with running_hub(fresh_db_url) as hub:

        async def relearnt() -> list[Any]:
            await hub.settle()
            async with hub.runtime.db.session() as session:
                rows = await session.execute(
                    sa.text("SELECT subscriber, topic, status, items FROM alerting.grants")
                )
                return [tuple(r) for r in rows]

        assert await wait_for(relearnt) == [(reader, topic, "approved", ["name", "uscc"])]


async def test_a_warning_shows_its_reminders_and_what_the_sms_gateway_reported(hub: Hub) -> None:
    # A year of its own before every other test's (their timers and messages lie in later
    # years), within what the SMS gateway's dispatch takes.
    day0 = date(random.randrange(2040, 2099), 3, 1)
    mobile = f"+86139{random.randrange(10**8):08d}"
    # Two enterprises with one mobile: the gateway sends one reminder of a template per
    # number and day, so the second fails (cap_exceeded).
    codes = [uscc(), uscc()]
    await hub.runtime.bus.publish(
        [record_event("enterprise_registered", "gz-amr", *(licence(c, day0, mobile) for c in codes))]
    )  # fmt: skip
    await hub.settle()
    fired = await evaluate(hub, day0 + days(20))
    assert fired["reminders_due"] >= 2
    dispatched = await hub.client.post(
        "/sms/v1/dispatch",
        json={"as_of": moment(day0 + days(20), 10).isoformat()},
        headers=hub.operator(),
    )
    assert dispatched.status_code == 200, dispatched.text
    await evaluate(hub, day0 + days(31))
    officer = hub.auth("gz-ltax", *READER)

    async def reminders_reported() -> list[dict[str, Any]] | None:
        await hub.settle()
        shown = []
        for code in codes:
            (warning,) = (await get_json(hub, "/alerting/v1/warnings", officer, subject=code))[
                "data"
            ]
            detail = await get_json(hub, f"/alerting/v1/warnings/{warning['id']}", officer)
            (reminder,) = detail["reminders"]
            if reminder["status"] not in ("delivered", "failed"):
                return None
            shown.append(reminder)
        return shown

    shown = await wait_for(reminders_reported, timeout=30)
    assert sorted(r["status"] for r in shown) == ["delivered", "failed"]
    for code, reminder in zip(codes, shown, strict=True):
        assert reminder["idempotency_key"] == (
            f"tax_registration_missing:{code}:{day0.isoformat()}:P20D"
        )
        assert reminder["template"] == "tax_registration_reminder"
        assert reminder["recipient"] == mobile[:6] + "****" + mobile[-4:]
        assert reminder["due_at"].startswith((day0 + days(19)).isoformat())  # 00:00 +08:00
        assert reminder["status_changed_at"]
    (failed,) = [r for r in shown if r["status"] == "failed"]
    assert "cap" in failed["reason"]


async def test_the_queue_newest_first_reverses_it_and_pages(hub: Hub, day0: date) -> None:
    codes = [uscc() for _ in range(5)]
    await hub.runtime.bus.publish(
        [record_event("enterprise_registered", "gz-amr", licence(code, day0)) for code in codes]
    )
    await hub.settle()
    raised_on = (day0 + days(31)).isoformat()
    await evaluate(hub, day0 + days(31))
    officer = hub.auth("gz-ltax", *READER)

    async def every(order: str | None) -> list[int]:
        params: dict[str, Any] = {"from": raised_on, "to": raised_on, "limit": 2}
        if order:
            params["order"] = order
        ids: list[int] = []
        while True:
            page = await get_json(hub, "/alerting/v1/warnings", officer, **params)
            assert len(page["data"]) <= 2
            ids += [w["id"] for w in page["data"]]
            if page["next"] is None:
                return ids
            params["cursor"] = page["next"]

    oldest = await every(None)
    assert len(oldest) == 5 and oldest == sorted(oldest)
    assert await every("oldest") == oldest
    newest = await every("newest")
    assert newest == oldest[::-1]
    # A cursor of one order is not taken for the other.
    first = await get_json(
        hub, "/alerting/v1/warnings", officer, **{"from": raised_on, "to": raised_on, "limit": 2}
    )
    mixed = await hub.client.get(
        "/alerting/v1/warnings",
        params={"order": "newest", "cursor": first["next"]},
        headers=officer,
    )
    assert mixed.status_code == 400
    assert mixed.json()["code"] == ProblemCode.INVALID_CURSOR
