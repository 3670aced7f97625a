"""Figures per rule and kind: warnings of every kind count, while triggers and a compliance
rate belong to a kind with deadlines (absence) only."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from govhub_common.testing import Hub, wait_for
from tests.alerting.support import days, facts_about, licence, record_event, uscc


async def figures_of(hub: Hub, rule: str, agency: str, year: int) -> dict[str, Any]:
    response = await hub.client.get(
        "/alerting/v1/stats",
        params={"rule": rule, "from": f"{year}-01-01", "to": f"{year}-12-31"},
        headers=hub.auth(agency, "alerting:read"),
    )
    assert response.status_code == 200, response.text
    (figures,) = response.json()["data"]
    return dict(figures)


def relief(household: str, day: date) -> dict[str, object]:
    return {
        "household_id": household,
        "id_number": "440106199001011234",
        "item": "棉被",
        "quantity": 1,
        "given_date": day.isoformat(),
    }


async def test_a_duplicate_rule_counts_warnings_without_a_compliance_rate(
    hub: Hub, day0: date
) -> None:
    household = f"HS{uuid.uuid4().hex[:10]}"
    await hub.runtime.bus.publish(
        [
            record_event("civil_relief_given", "gz-civil", relief(household, day0)),
            record_event("union_relief_given", "gz-union", relief(household, day0 + days(3))),
        ]
    )

    async def both_in() -> bool:
        return await facts_about(hub, household) == 2

    await wait_for(both_in)
    await hub.settle()
    figures = await figures_of(hub, "duplicate_relief", "gz-civil", day0.year)
    assert figures["kind"] == "duplicate"
    assert figures["warnings_raised"] == 1
    assert (figures["triggers"], figures["complied_on_time"]) == (0, 0)
    assert figures["compliance_rate"] is None


async def test_an_absence_rule_counts_its_triggers(hub: Hub, day0: date) -> None:
    code = uscc()
    await hub.runtime.bus.publish(
        [record_event("enterprise_registered", "gz-amr", licence(code, day0))]
    )

    async def in_() -> bool:
        return await facts_about(hub, code) == 1

    await wait_for(in_)
    await hub.settle()
    figures = await figures_of(hub, "tax_registration_missing", "gz-ltax", day0.year)
    assert figures["kind"] == "absence"
    assert (figures["triggers"], figures["complied_on_time"]) == (1, 0)
    # One trigger, not complied with (yet): a rate of 0, where a duplicate rule has none.
    assert figures["compliance_rate"] == 0.0
