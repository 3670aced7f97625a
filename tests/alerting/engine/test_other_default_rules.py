"""The other default rules: deregistration without tax deregistration, pension paid after
death (real bus), duplicate relief to one household."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from govhub_common.events import CloudEvent
from govhub_common.testing import Hub, wait_for
from tests.alerting.support import (
    Capture,
    days,
    evaluate,
    facts_about,
    next_seq,
    record_event,
    uscc,
    warnings_of,
)


@pytest.mark.rabbitmq
async def test_deregistered_at_market_regulation_but_not_at_tax(
    rabbit_hub: Hub, day0: date
) -> None:
    hub, missing, done = rabbit_hub, uscc(), uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_deregistered",
                "gz-amr",
                {"uscc": missing, "deregistered_date": day0.isoformat(), "reason": "歇业"},
                {"uscc": done, "deregistered_date": day0.isoformat()},
            ),
            record_event(
                "national_tax_deregistered",
                "gz-ntax",
                {"uscc": done, "deregistered_date": (day0 + days(12)).isoformat()},
            ),
        ]
    )

    async def both_in() -> bool:
        return await facts_about(hub, done) == 2

    await wait_for(both_in)
    await evaluate(hub, day0 + days(31))
    (warning,) = await warnings_of(hub, "gz-ltax", subject=missing)
    assert warning["title"] == "已办工商注销未办税务注销"
    assert warning["rule_id"] == "tax_deregistration_missing"
    assert await warnings_of(hub, "gz-ltax", subject=done) == []


def person_id() -> str:
    return "4401" + uuid.uuid4().hex[:14].upper()


def pension(id_number: str, day: date) -> dict[str, object]:
    return {
        "id_number": id_number,
        "name": "李四",
        "amount": 2300,
        "paid_date": day.isoformat(),
        "period": day.strftime("%Y-%m"),
    }


@pytest.mark.rabbitmq
async def test_pension_paid_after_death_raises_a_warning_for_social_security(
    rabbit_hub: Hub, rabbit_capture: Capture, day0: date
) -> None:
    hub = rabbit_hub
    dead, alive, via_registry = person_id(), person_id(), person_id()
    await hub.runtime.bus.publish(
        [
            record_event(
                "pension_paid",
                "gz-hrss",
                pension(dead, day0 - days(30)),
                pension(alive, day0 + days(5)),
            ),
            record_event(
                "person_died",
                "gz-psb",
                {"id_number": dead, "name": "李四", "death_date": day0.isoformat()},
            ),
        ]
    )
    # A payment dated before the death is no contradiction.
    await hub.runtime.bus.publish([record_event("pension_paid", "gz-hrss", pension(dead, day0))])
    await hub.runtime.bus.publish(
        [record_event("pension_paid", "gz-hrss", pension(dead, day0 + days(31)))]
    )
    (raised,) = await wait_for(
        lambda: rabbit_capture.warnings("alerting.warning.raised", dead), timeout=15
    )
    assert raised["assigned_agency"] == "gz-hrss"
    assert raised["rule_id"] == "pension_after_death"
    (warning,) = await warnings_of(hub, "gz-hrss", subject=dead)
    assert warning["trigger_date"] == (day0 + days(31)).isoformat()
    evidence = {(e["topic"], e["business_date"]) for e in warning["evidence"]}
    assert evidence == {
        ("person_died", day0.isoformat()),
        ("pension_paid", (day0 + days(31)).isoformat()),
    }
    assert all(isinstance(e["seq"], int) for e in warning["evidence"])

    # The registry's death event counts as well, whatever order the facts arrive in.
    await hub.runtime.bus.publish(
        [record_event("pension_paid", "gz-hrss", pension(via_registry, day0 + days(3)))]
    )
    await hub.runtime.bus.publish(
        [
            CloudEvent(
                source="govhub/registry",
                type="registry.person.deceased",
                data={
                    "persons": [
                        {
                            "id_number": via_registry,
                            "death_date": day0.isoformat(),
                            "source_agency": "gz-health",
                            "seq": next_seq(),
                        }
                    ]
                },
            )
        ]
    )
    await wait_for(lambda: rabbit_capture.warnings("alerting.warning.raised", via_registry))
    assert rabbit_capture.warnings("alerting.warning.raised", alive) == []
    assert len(await warnings_of(hub, "gz-hrss", subject=dead)) == 1


def relief(household: str, item: str, day: date) -> dict[str, object]:
    return {
        "household_id": household,
        "id_number": person_id(),
        "item": item,
        "quantity": 1,
        "given_date": day.isoformat(),
    }


@pytest.mark.rabbitmq
async def test_two_agencies_giving_one_household_the_same_relief_raise_one_warning(
    rabbit_hub: Hub, rabbit_capture: Capture, day0: date
) -> None:
    hub, capture = rabbit_hub, rabbit_capture
    household, apart, other_items = (f"HH{uuid.uuid4().hex[:10]}" for _ in range(3))
    await hub.runtime.bus.publish(
        [
            record_event(
                "civil_relief_given",
                "gz-civil",
                relief(household, "棉被", day0),
                relief(apart, "棉被", day0),
                relief(other_items, "棉被", day0),
            ),
            record_event(
                "union_relief_given",
                "gz-union",
                relief(household, "棉被", day0 + days(40)),
                relief(apart, "棉被", day0 + days(120)),
                relief(other_items, "大米", day0 + days(1)),
            ),
            record_event(
                "redcross_relief_given", "gz-redcross", relief(household, "棉被", day0 + days(60))
            ),
        ]
    )
    subject = f"{household}/棉被"
    await wait_for(lambda: capture.warnings("alerting.warning.raised", subject), timeout=15)

    # Every record is in (the last event judged them all) before asserting nothing else rose.
    async def all_in() -> bool:
        return await facts_about(hub, household, apart, other_items) == 7

    await wait_for(all_in)
    await hub.settle()
    (warning,) = await warnings_of(hub, "gz-civil", subject=subject)
    assert warning["rule_id"] == "duplicate_relief"
    # The events may arrive in any order; whichever two came first are the evidence.
    assert len({e["publisher"] for e in warning["evidence"]}) >= 2
    assert len(capture.warnings("alerting.warning.raised", subject)) == 1
    assert await warnings_of(hub, "gz-civil", subject=f"{apart}/棉被") == []
    assert await warnings_of(hub, "gz-civil", subject=f"{other_items}/棉被") == []
