"""Records whose ID is missing or fails its check character: automatic links, the review
queue an operator resolves, records nobody resembles, and the kept decisions."""

from __future__ import annotations

from datetime import date

from govhub_common.testing import Hub
from tests.registry.support import (
    break_check,
    enterprise,
    make_ric,
    make_uscc,
    person,
    publish,
    published,
    record,
    twin_ric,
)


def pension(id_number: str, name: str, paid: str = "2024-05-10") -> dict[str, object]:
    return record(
        {
            "id_number": id_number,
            "name": name,
            "amount": 2800,
            "paid_date": paid,
            "period": paid[:7],
        }
    )


async def decisions(hub: Hub, topic: str, seq: object) -> list[dict[str, object]]:
    reply = await hub.client.get(
        "/registry/v1/match-decisions", params={"topic": topic, "seq": seq}, headers=hub.operator()
    )
    return reply.json()["data"]


async def test_a_broken_id_with_a_traditional_name_links_itself(hub: Hub) -> None:
    id_number = make_ric(date(1952, 5, 5))
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "李建国"))])
    )
    paid = pension(break_check(id_number), "李建國")
    await publish(hub, published("pension_paid", "gz-hrss", [paid]))

    regs = (
        await hub.client.get(
            f"/registry/v1/persons/{id_number}/registrations", headers=hub.operator()
        )
    ).json()["data"]
    assert [r["kind"] for r in regs if r["agency"] == "gz-hrss"] == ["pension"]
    [decision] = await decisions(hub, "pension_paid", paid["seq"])
    assert decision["decision"] == "auto_link" and decision["linked_id"] == id_number


async def test_an_ambiguous_record_waits_for_an_operator(hub: Hub) -> None:
    # One digit apart, so the broken ID resembles both as much as the matcher can tell.
    first = make_ric(date(1944, 2, 29))
    second = twin_ric(first)
    await publish(
        hub,
        published(
            "person_registered",
            "gz-psb",
            [record(person(first, "张伟")), record(person(second, "张伟"))],
        ),
    )
    paid = pension(break_check(first), "张伟")
    await publish(hub, published("pension_paid", "gz-hrss", [paid]))

    queue = await review_queue(hub)
    [item] = [q for q in queue if q["seq"] == paid["seq"]]
    assert {c["id"] for c in item["candidates"]} >= {first, second}
    assert (
        await hub.client.get(f"/registry/v1/persons/{second}/registrations", headers=hub.operator())
    ).json()["data"][0]["kind"] != "pension"

    wrong = await hub.client.post(
        f"/registry/v1/review-queue/{item['id']}/resolve",
        json={"decision": "link", "id": make_ric(date(1901, 1, 1))},
        headers=hub.operator(),
    )
    assert wrong.status_code == 404 and wrong.json()["errors"][0]["path"] == "$.id"
    resolved = await hub.client.post(
        f"/registry/v1/review-queue/{item['id']}/resolve",
        json={"decision": "link", "id": second},
        headers=hub.operator(),
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "linked"
    regs = (
        await hub.client.get(f"/registry/v1/persons/{second}/registrations", headers=hub.operator())
    ).json()["data"]
    assert "pension" in [r["kind"] for r in regs]
    kept = [
        (d["decision"], d["decided_by"]) for d in await decisions(hub, "pension_paid", paid["seq"])
    ]
    assert kept == [("review", "matcher"), ("operator_link", "hub")]
    again = await hub.client.post(
        f"/registry/v1/review-queue/{item['id']}/resolve",
        json={"decision": "reject"},
        headers=hub.operator(),
    )
    assert again.status_code == 409


async def test_a_record_nobody_resembles_is_kept_with_the_reason(hub: Hub) -> None:
    stranger = break_check(make_ric(date(1911, 11, 11)))
    paid = pension(stranger, "欧阳无名")
    await publish(hub, published("pension_paid", "gz-hrss", [paid]))
    unmapped = (
        await hub.client.get(
            "/registry/v1/unmapped-records",
            params={"topic": "pension_paid", "limit": 500},
            headers=hub.operator(),
        )
    ).json()["data"]
    [kept] = [u for u in unmapped if u["seq"] == paid["seq"]]
    assert "no usable resident ID number" in kept["reason"]
    assert (await decisions(hub, "pension_paid", paid["seq"]))[0]["decision"] == "no_match"


async def test_a_tax_registration_with_a_wrong_check_character_finds_its_enterprise(
    hub: Hub,
) -> None:
    uscc = make_uscc()
    await publish(hub, published("enterprise_registered", "gz-amr", [record(enterprise(uscc))]))
    tax = record({"uscc": break_check(uscc), "tax_no": "N-77", "registered_date": "2024-04-01"})
    await publish(hub, published("national_tax_registered", "gz-ntax", [tax]))
    regs = (
        await hub.client.get(
            f"/registry/v1/legal-entities/{uscc}/registrations", headers=hub.operator()
        )
    ).json()["data"]
    assert ("gz-ntax", "N-77") in [(r["agency"], r["reference"]) for r in regs]


async def review_queue(hub: Hub) -> list[dict]:
    """Every pending review, all pages: other tests of the session leave theirs too."""
    items: list[dict] = []
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = (
            await hub.client.get("/registry/v1/review-queue", params=params, headers=hub.operator())
        ).json()
        items += page["data"]
        cursor = page["next"]
        if not cursor:
            return items
