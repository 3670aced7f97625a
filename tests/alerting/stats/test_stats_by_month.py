"""Figures per rule and month: one row per month of the triggers' business dates, adding up
to the whole period's, paged like every list."""

from __future__ import annotations

from datetime import date
from typing import Any

from govhub_common.testing import Hub, every_page
from tests.alerting.support import days, evaluate, licence, record_event, uscc

COUNTS = (
    "triggers",
    "reminders_sent",
    "reminders_without_recipient",
    "complied_on_time",
    "warnings_raised",
    "warnings_open",
    "complied_late",
    "false_positives",
)


async def test_months_add_up_to_the_period(hub: Hub, day0: date) -> None:
    march, april = day0, day0 + days(40)  # 1 March and 10 April
    licensed = {march: [uscc() for _ in range(3)], april: [uscc() for _ in range(2)]}
    registered = licensed[march][0]  # in time: no warning
    await hub.runtime.bus.publish(
        [
            record_event("enterprise_registered", "gz-amr", *(licence(c, day) for c in codes))
            for day, codes in licensed.items()
        ]
        + [
            record_event(
                "local_tax_registered",
                "gz-ltax",
                {"uscc": registered, "registered_date": (march + days(5)).isoformat()},
            )
        ]
    )
    await hub.settle()
    await evaluate(hub, april + days(31))
    officer = hub.auth("gz-ltax", "alerting:read")
    period = {"rule": "tax_registration_missing", "from": f"{day0.year}-01-01",
              "to": f"{day0.year}-12-31"}  # fmt: skip

    (whole,) = (await hub.client.get("/alerting/v1/stats", params=period, headers=officer)).json()[
        "data"
    ]
    assert whole["month"] is None
    months: list[dict[str, Any]] = await every_page(
        hub, "/alerting/v1/stats", officer, **period, by="month", limit=1
    )
    assert [m["month"] for m in months] == [f"{day0.year}-03", f"{day0.year}-04"]
    assert all(m["rule_id"] == "tax_registration_missing" for m in months)
    for name in COUNTS:
        assert sum(m[name] for m in months) == whole[name], name
    by_month = {m["month"][-2:]: m for m in months}
    assert (by_month["03"]["triggers"], by_month["03"]["complied_on_time"]) == (3, 1)
    assert (by_month["03"]["warnings_raised"], by_month["04"]["warnings_raised"]) == (2, 2)
    assert by_month["04"]["triggers"] == 2
    assert by_month["03"]["compliance_rate"] == round(1 / 3, 4)
    assert whole["triggers"] == 5 and whole["warnings_raised"] == 4
