"""The flagship rule (应办未办税务登记) driven through the real bus with business dates."""

from __future__ import annotations

from datetime import date

import pytest

from govhub_common.testing import Hub, wait_for
from tests.alerting.support import (
    Capture,
    days,
    evaluate,
    licence,
    record_event,
    scalar,
    uscc,
    warnings_of,
)

RULE = "tax_registration_missing"


def tax_registration(code: str, day: date) -> dict[str, object]:
    return {"uscc": code, "tax_no": "T" + code[-8:], "registered_date": day.isoformat()}


async def stats(hub: Hub, year: int, agency: str = "gz-ltax") -> dict[str, object]:
    response = await hub.client.get(
        "/alerting/v1/stats",
        params={"rule": RULE, "from": f"{year}-01-01", "to": f"{year}-12-31"},
        headers=hub.auth(agency, "alerting:read"),
    )
    assert response.status_code == 200, response.text
    (figures,) = response.json()["data"]
    return dict(figures)


@pytest.mark.rabbitmq
async def test_reminder_on_day_20_warning_on_day_31_and_late_registration_resolves(
    rabbit_hub: Hub, rabbit_capture: Capture, day0: date
) -> None:
    hub, code = rabbit_hub, uscc()
    await hub.runtime.bus.publish(
        [record_event("enterprise_registered", "gz-amr", licence(code, day0))]
    )
    await wait_for(
        lambda: scalar(hub, "SELECT count(*) FROM alerting.timers WHERE subject = :s", s=code)
    )

    await evaluate(hub, day0 + days(19))
    assert rabbit_capture.reminders(code) == []
    await evaluate(hub, day0 + days(20))
    (reminder,) = await wait_for(lambda: rabbit_capture.reminders(code))
    assert reminder["recipient"] == "+8613800138000"
    assert reminder["template"] == "tax_registration_reminder"
    assert reminder["params"] == {
        "name": "广州市天河区示范贸易有限公司",
        "deadline": (day0 + days(30)).isoformat(),
    }
    assert reminder["idempotency_key"]

    await evaluate(hub, day0 + days(30))
    assert await warnings_of(hub, "gz-ltax", subject=code) == []
    result = await evaluate(hub, day0 + days(31))
    assert result["warnings_raised"] >= 1
    (warning,) = await warnings_of(hub, "gz-ltax", subject=code)
    assert warning["rule_id"] == RULE
    assert warning["title"] == "应办未办税务登记"
    assert warning["assigned_agency"] == "gz-ltax"
    assert warning["status"] == "open"
    assert warning["due_date"] == (day0 + days(30)).isoformat()
    (evidence,) = warning["evidence"]
    assert evidence["topic"] == "enterprise_registered"
    assert isinstance(evidence["seq"], int)
    (raised,) = await wait_for(lambda: rabbit_capture.warnings("alerting.warning.raised", code))
    assert raised["id"] == warning["id"]

    # Re-evaluating as of the same time raises nothing new; neither does the reminder repeat.
    await evaluate(hub, day0 + days(31))
    assert len(await warnings_of(hub, "gz-ltax", subject=code)) == 1
    assert len(rabbit_capture.reminders(code)) == 1

    await hub.runtime.bus.publish(
        [record_event("local_tax_registered", "gz-ltax", tax_registration(code, day0 + days(40)))]
    )
    (resolved,) = await wait_for(
        lambda: rabbit_capture.warnings("alerting.warning.resolved", code), timeout=15
    )
    assert resolved["resolution"] == "complied_late"
    (warning,) = await warnings_of(hub, "gz-ltax", subject=code)
    assert (warning["status"], warning["resolution"]) == ("resolved", "complied_late")

    figures = await stats(hub, day0.year)
    assert figures["triggers"] == 1
    assert figures["reminders_sent"] == 1
    assert figures["warnings_raised"] == 1
    assert figures["complied_late"] == 1
    assert figures["follow_up_rate"] == 1.0
    assert figures["compliance_rate"] == 1.0


async def test_registration_in_time_cancels_reminder_and_warning(
    hub: Hub, capture: Capture, day0: date
) -> None:
    code, other = uscc(), uscc()
    await hub.runtime.bus.publish(
        [record_event("enterprise_registered", "gz-amr", licence(code, day0), licence(other, day0))]
    )
    await hub.runtime.bus.publish(
        [
            record_event(
                "national_tax_registered", "gz-ntax", tax_registration(code, day0 + days(10))
            )
        ]
    )
    await evaluate(hub, day0 + days(20))
    assert capture.reminders(code) == []
    assert len(capture.reminders(other)) == 1
    await evaluate(hub, day0 + days(31))
    assert await warnings_of(hub, "gz-ltax", subject=code) == []
    assert len(await warnings_of(hub, "gz-ltax", subject=other)) == 1

    figures = await stats(hub, day0.year)
    assert figures["triggers"] == 2
    assert figures["complied_on_time"] == 1
    assert figures["warnings_raised"] == 1
    assert figures["compliance_rate"] == 0.5
    assert figures["follow_up_rate"] == 0.0


async def test_late_data_is_judged_by_business_date(hub: Hub, capture: Capture, day0: date) -> None:
    """A registration dated in time but arriving after the warning resolves it as a false
    positive and counts as compliance on time; one dated after the deadline that arrives
    before the sweep raises the warning and resolves it at once as complied late."""
    in_time, late = uscc(), uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered", "gz-amr", licence(in_time, day0), licence(late, day0)
            )
        ]
    )
    await evaluate(hub, day0 + days(31))
    assert len(await warnings_of(hub, "gz-ltax", subject=in_time, status="open")) == 1
    await hub.runtime.bus.publish(
        [
            record_event(
                "local_tax_registered", "gz-ltax", tax_registration(in_time, day0 + days(29))
            )
        ]
    )
    (warning,) = await warnings_of(hub, "gz-ltax", subject=in_time)
    assert (warning["status"], warning["resolution"]) == ("resolved", "false_positive")

    # Out of order: the late registration arrives before the sweep that judges the deadline.
    code = uscc()
    await hub.runtime.bus.publish(
        [record_event("enterprise_registered", "gz-amr", licence(code, day0 + days(100)))]
    )
    await hub.runtime.bus.publish(
        [record_event("local_tax_registered", "gz-ltax", tax_registration(code, day0 + days(135)))]
    )
    await evaluate(hub, day0 + days(140))
    (warning,) = await warnings_of(hub, "gz-ltax", subject=code)
    assert (warning["status"], warning["resolution"]) == ("resolved", "complied_late")
    await hub.settle()
    assert [w["status"] for w in capture.warnings("alerting.warning.raised", code)] == ["open"]
    assert [w["resolution"] for w in capture.warnings("alerting.warning.resolved", code)] == [
        "complied_late"
    ]
    figures = await stats(hub, day0.year)
    assert figures["complied_on_time"] == 1
    assert figures["complied_late"] == 1


async def test_redelivered_and_republished_events_change_nothing(hub: Hub, day0: date) -> None:
    code = uscc()
    event = record_event("enterprise_registered", "gz-amr", licence(code, day0))
    await hub.runtime.bus.publish([event])
    await hub.runtime.bus.publish([event])  # the same event id: the inbox drops it
    # The same record (same exchange seq) in a new event: the facts keep it once.
    await hub.runtime.bus.publish(
        [event.model_copy(update={"id": "6f1c2b1e-0000-4000-8000-000000000001"})]
    )
    assert await scalar(hub, "SELECT count(*) FROM alerting.facts WHERE subject = :s", s=code) == 1
    assert await scalar(hub, "SELECT count(*) FROM alerting.timers WHERE subject = :s", s=code) == 2
    await evaluate(hub, day0 + days(31))
    await hub.runtime.bus.publish([event])
    await evaluate(hub, day0 + days(31))
    assert len(await warnings_of(hub, "gz-ltax", subject=code)) == 1


async def test_a_malformed_record_loses_nothing_else_of_its_event(hub: Hub, day0: date) -> None:
    good, undated = uscc(), uscc()
    event = record_event(
        "enterprise_registered", "gz-amr", licence(good, day0), {"uscc": undated, "name": "庚"}
    )
    records = [*event.data["records"], {"record_id": "no-seq", "data": licence(uscc(), day0)}]
    await hub.runtime.bus.publish(
        [event.model_copy(update={"data": {**event.data, "records": records}})]
    )
    await evaluate(hub, day0 + days(31))
    assert len(await warnings_of(hub, "gz-ltax", subject=good)) == 1
    assert await warnings_of(hub, "gz-ltax", subject=undated) == []
