"""Conflicts between agencies: raised during ingest, listed with every agency's claim,
settled by an operator."""

from __future__ import annotations

from datetime import date

from govhub_common.testing import Hub
from tests.registry.support import (
    make_ric,
    person,
    publish,
    published,
    record,
)


async def test_conflicting_names_are_listed_with_both_sources_and_can_be_settled(hub: Hub) -> None:
    id_number = make_ric(date(1948, 6, 2))
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "王秀英"))])
    )
    await publish(
        hub,
        published(
            "pension_paid",
            "gz-hrss",
            [
                record(
                    {
                        "id_number": id_number,
                        "name": "王秀瑛",
                        "amount": 3200,
                        "paid_date": "2024-03-10",
                        "period": "2024-03",
                    }
                )
            ],
        ),
    )

    listed = (
        await hub.client.get(
            f"/registry/v1/conflicts?subject_id={id_number}", headers=hub.operator()
        )
    ).json()["data"]
    assert len(listed) == 1
    conflict = listed[0]
    assert conflict["attribute"] == "name" and conflict["status"] == "open"
    assert {(c["agency"], c["value"]) for c in conflict["claims"]} == {
        ("gz-psb", "王秀英"),
        ("gz-hrss", "王秀瑛"),
    }
    # The current name follows the more authoritative source (public security).
    body = (
        await hub.client.get(f"/registry/v1/persons/{id_number}", headers=hub.operator())
    ).json()
    assert body["attributes"]["name"] == "王秀英" and body["sources"]["name"]["agency"] == "gz-psb"

    settled = await hub.client.post(
        f"/registry/v1/conflicts/{conflict['id']}/settle",
        json={"note": "户籍为准"},
        headers=hub.operator(),
    )
    assert settled.status_code == 200 and settled.json()["status"] == "settled"
    # The same claims again do not reopen it.
    await publish(
        hub,
        published(
            "pension_paid",
            "gz-hrss",
            [
                record(
                    {
                        "id_number": id_number,
                        "name": "王秀瑛",
                        "amount": 3200,
                        "paid_date": "2024-03-10",
                        "period": "2024-03",
                    },
                    seq=conflict["claims"][1]["seq"],
                )
            ],
        ),
    )
    still = (
        await hub.client.get(
            f"/registry/v1/conflicts?subject_id={id_number}", headers=hub.operator()
        )
    ).json()["data"]
    assert still == []
    again = await hub.client.post(
        f"/registry/v1/conflicts/{conflict['id']}/settle",
        json={"note": "x"},
        headers=hub.operator(),
    )
    assert again.status_code == 409
    bad = await hub.client.post(
        f"/registry/v1/conflicts/{conflict['id']}/settle", json={"note": ""}, headers=hub.operator()
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "$.note"

    benefits = (
        await hub.client.get(
            f"/registry/v1/persons/{id_number}/registrations", headers=hub.operator()
        )
    ).json()["data"]
    pension = next(b for b in benefits if b["kind"] == "pension")
    assert pension["agency"] == "gz-hrss" and pension["details"]["amount"] == 3200


async def test_a_birth_date_contradicting_the_id_number_is_a_conflict(hub: Hub) -> None:
    id_number = make_ric(date(1961, 1, 15))
    await publish(
        hub,
        published(
            "person_registered", "gz-psb", [record(person(id_number, birth_date="1961-01-16"))]
        ),
    )
    listed = (
        await hub.client.get(
            f"/registry/v1/conflicts?subject_id={id_number}", headers=hub.operator()
        )
    ).json()["data"]
    assert [c["attribute"] for c in listed] == ["birth_date"]
    assert {(c["agency"], c["value"]) for c in listed[0]["claims"]} == {
        ("gb11643", "1961-01-15"),
        ("gz-psb", "1961-01-16"),
    }
