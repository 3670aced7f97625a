"""Duplicate-rule subjects found by their key, and warnings on the hub topic with how they
were resolved (issue 17: what a subscribing agency and a case worker need to tell apart)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from govhub_common.testing import Hub, wait_for
from tests.alerting.support import days, facts_about, record_event, warnings_of
from tests.exchange.support import BASE, agency_headers, make_agency, subscribe


def relief(household: str, item: str, day: date) -> dict[str, object]:
    return {
        "household_id": household,
        "id_number": "440106199001011234",
        "item": item,
        "quantity": 1,
        "given_date": day.isoformat(),
    }


async def duplicates(hub: Hub, day0: date, *households: str) -> None:
    """Civil affairs and the union give each household 棉被 and 大米: two duplicate warnings
    a household (`household/棉被`, `household/大米`)."""
    pairs = [(h, item) for h in households for item in ("棉被", "大米")]
    await hub.runtime.bus.publish(
        [
            record_event("civil_relief_given", "gz-civil", *(relief(*p, day0) for p in pairs)),
            record_event(
                "union_relief_given", "gz-union", *(relief(*p, day0 + days(3)) for p in pairs)
            ),
        ]
    )

    async def all_in() -> bool:
        return await facts_about(hub, *households) == 4 * len(households)

    await wait_for(all_in)
    await hub.settle()


async def test_a_household_finds_its_duplicate_warnings_by_subject_key(
    hub: Hub, day0: date
) -> None:
    token = uuid.uuid4().hex[:10]
    # `_` in the key is a character, not LIKE's wildcard: HX<token> is another household.
    household, lookalike = f"H_{token}", f"HX{token}"
    await duplicates(hub, day0, household, lookalike)

    found = await warnings_of(hub, "gz-civil", rule="duplicate_relief", subject_key=household)
    assert sorted(w["subject"] for w in found) == [f"{household}/大米", f"{household}/棉被"]
    # The whole subject still filters exactly, on both parts.
    (one,) = await warnings_of(hub, "gz-civil", subject=f"{household}/棉被")
    assert one["kind"] == "duplicate"
    assert await warnings_of(hub, "gz-civil", subject=household) == []


async def test_hub_warnings_records_carry_the_resolution(hub: Hub, day0: date) -> None:
    reader = await make_agency(hub)
    items = ["warning_id", "subject", "status", "resolution", "resolved_at"]
    request = await subscribe(hub, reader, "hub_warnings", items)
    approved = await hub.client.post(
        f"{BASE}/subscriptions/{request['id']}/decision",
        json={"approve": True},
        headers=hub.operator(),
    )
    assert approved.json()["status"] == "approved", approved.text

    household = f"H{uuid.uuid4().hex[:10]}"
    await duplicates(hub, day0, household)
    (late,) = await warnings_of(hub, "gz-civil", subject=f"{household}/棉被")
    (wrong,) = await warnings_of(hub, "gz-civil", subject=f"{household}/大米")
    resolved: dict[str, Any] = {}
    for warning, resolution in ((late, "complied_late"), (wrong, "false_positive")):
        response = await hub.client.post(
            f"/alerting/v1/warnings/{warning['id']}/transitions",
            json={"status": "resolved", "resolution": resolution},
            headers=hub.auth("gz-civil", "alerting:work"),
        )
        assert response.status_code == 200, response.text
        resolved[str(warning["id"])] = response.json()
    await hub.settle()

    feed: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = (
            await hub.client.get(
                f"{BASE}/subscriptions/{request['id']}/records",
                params=params,
                headers=agency_headers(hub, reader),
            )
        ).json()
        feed += [r for r in page["data"] if r["record_id"] in resolved]
        if not page["next"]:
            break
        params["cursor"] = page["next"]

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    got = sorted(
        (
            r["record_id"],
            r["version"],
            r["data"]["status"],
            r["data"].get("resolution"),
            when(r["data"].get("resolved_at")),
        )
        for r in feed
    )
    expected = sorted(
        row
        for warning_id, after in resolved.items()
        for row in (
            (warning_id, 1, "open", None, None),
            (warning_id, 2, "resolved", after["resolution"], when(after["resolved_at"])),
        )
    )
    assert got == expected
