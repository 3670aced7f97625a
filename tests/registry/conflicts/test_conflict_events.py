"""Conflicts on the bus (`registry.conflicts.changed`): each ingest batch that raises, changes
or closes conflicts, and each settle call, is one event carrying every such conflict's whole
state: the authoritative agency, the dissenters with the topic of their claim, and the
times on the business clock."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import pytest

from govhub_common.event_contracts import parse_data
from govhub_common.event_contracts.registry import CONFLICTS_CHANGED
from govhub_common.testing import Hub, running_hub
from tests.registry.support import Collector, collect, make_ric, person, publish, published, record


def pension(id_number: str, name: str, paid: str) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "name": name,
        "amount": 3200,
        "paid_date": paid,
        "period": paid[:7],
    }


def relief(id_number: str, household_id: str) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "household_id": household_id,
        "given_date": "2024-03-01",
        "item": "大米",
        "quantity": 1,
    }


async def conflicts_of(hub: Hub, id_number: str, status: str = "open") -> list[dict[str, Any]]:
    reply = await hub.client.get(
        "/registry/v1/conflicts",
        params={"subject_id": id_number, "status": status},
        headers=hub.operator(),
    )
    assert reply.status_code == 200, reply.text
    listed: list[dict[str, Any]] = reply.json()["data"]
    return listed


def announced(collector: Collector, conflict_ids: set[int]) -> list[list[dict[str, Any]]]:
    """The entries about these conflicts, event by event (events about none left out), each
    event checked against its contract."""
    found = []
    for event in collector.events:
        parse_data(event)
        mine = [c for c in event.data["conflicts"] if c["conflict_id"] in conflict_ids]
        if mine:
            found.append(mine)
    return found


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_conflict_is_announced_open_then_resolved_when_the_agencies_agree(
    hub: Hub,
) -> None:
    events = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", CONFLICTS_CHANGED)
    id_number = make_ric(date(1948, 6, 2))
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "王秀英"))])
    )
    await publish(
        hub,
        published("pension_paid", "gz-hrss", [record(pension(id_number, "王秀瑛", "2024-03-10"))]),
    )
    await hub.settle()
    (conflict,) = await conflicts_of(hub, id_number)
    (opened,) = announced(events, {conflict["id"]})
    assert opened == [
        {
            "conflict_id": conflict["id"],
            "subject_kind": "person",
            "attribute": "name",
            "status": "open",
            # Public security ranks 1 for a name, social security 4.
            "authority": "gz-psb",
            "dissenters": [{"agency": "gz-hrss", "topic": "pension_paid"}],
            "detected_at": opened[0]["detected_at"],
            "closed_at": None,
        }
    ]
    assert moment(opened[0]["detected_at"]) == moment(conflict["detected_at"])

    # Social security corrects the name: the agencies agree, the conflict is resolved.
    await publish(
        hub,
        published(
            "pension_paid",
            "gz-hrss",
            [record(pension(id_number, "王秀英", "2024-04-10"), when="2024-04-10T10:00:00+08:00")],
        ),
    )
    await hub.settle()
    assert await conflicts_of(hub, id_number) == []
    (resolved_row,) = await conflicts_of(hub, id_number, "resolved")
    assert resolved_row["id"] == conflict["id"]
    _, (resolved,) = announced(events, {conflict["id"]})
    assert resolved["status"] == "resolved"
    assert (resolved["authority"], resolved["dissenters"]) == (
        "gz-psb",
        [{"agency": "gz-hrss", "topic": "pension_paid"}],
    )
    assert resolved["closed_at"] is not None
    assert moment(resolved["closed_at"]) >= moment(opened[0]["detected_at"])


async def test_settling_announces_the_conflict_settled(hub: Hub) -> None:
    events = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", CONFLICTS_CHANGED)
    id_number = make_ric(date(1952, 9, 9))
    # Social security first, public security second: the conflict is raised by public
    # security's batch, and the dissenter's topic is where its own claim came from.
    await publish(
        hub,
        published("pension_paid", "gz-hrss", [record(pension(id_number, "陈桂兰", "2024-02-10"))]),
    )
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "陈桂蘭"))])
    )
    await hub.settle()
    (conflict,) = await conflicts_of(hub, id_number)
    ((opened,),) = announced(events, {conflict["id"]})
    assert (opened["status"], opened["authority"], opened["dissenters"]) == (
        "open",
        "gz-psb",
        [{"agency": "gz-hrss", "topic": "pension_paid"}],
    )

    reply = await hub.client.post(
        f"/registry/v1/conflicts/{conflict['id']}/settle",
        json={"note": "以户籍登记为准"},
        headers=hub.operator(),
    )
    assert reply.status_code == 200, reply.text
    await hub.settle()
    _, (settled,) = announced(events, {conflict["id"]})
    assert settled == {
        **opened,
        "status": "settled",
        "closed_at": settled["closed_at"],
    }
    assert moment(settled["closed_at"]) == moment(reply.json()["settled_at"])
    # A settle that fails announces nothing.
    again = await hub.client.post(
        f"/registry/v1/conflicts/{conflict['id']}/settle",
        json={"note": "x"},
        headers=hub.operator(),
    )
    assert again.status_code == 409
    await hub.settle()
    assert len(announced(events, {conflict["id"]})) == 2


async def test_one_batch_raising_several_conflicts_is_one_event(hub: Hub) -> None:
    events = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", CONFLICTS_CHANGED)
    first, second = make_ric(date(1961, 1, 15), sex="male"), make_ric(date(1970, 7, 1))
    # Each contradicts its own ID number (GB 11643, rank 0): the first twice.
    await publish(
        hub,
        published(
            "person_registered",
            "gz-psb",
            [
                record(person(first, birth_date="1961-01-16", sex="女")),
                record(person(second, birth_date="1970-07-02")),
            ],
        ),
    )
    await hub.settle()
    raised = await conflicts_of(hub, first) + await conflicts_of(hub, second)
    assert sorted(c["attribute"] for c in raised) == ["birth_date", "birth_date", "sex"]
    (batch,) = announced(events, {c["id"] for c in raised})
    assert sorted(c["conflict_id"] for c in batch) == sorted(c["id"] for c in raised)
    for entry in batch:
        assert (entry["status"], entry["authority"], entry["dissenters"]) == (
            "open",
            "gb11643",
            [{"agency": "gz-psb", "topic": "person_registered"}],
        )


async def test_without_a_single_best_rank_every_claimant_dissents(hub: Hub) -> None:
    events = await collect(hub, f"t-{uuid.uuid4().hex[:6]}", CONFLICTS_CHANGED)
    id_number = make_ric(date(1980, 2, 2))
    # Civil affairs and the trade union both rank 5 for a household.
    await publish(
        hub, published("civil_relief_given", "gz-civil", [record(relief(id_number, "HH-A"))])
    )
    await publish(
        hub, published("union_relief_given", "gz-union", [record(relief(id_number, "HH-B"))])
    )
    await hub.settle()
    (conflict,) = await conflicts_of(hub, id_number)
    ((entry,),) = announced(events, {conflict["id"]})
    assert entry["authority"] is None
    assert sorted(entry["dissenters"], key=lambda d: d["agency"]) == [
        {"agency": "gz-civil", "topic": "civil_relief_given"},
        {"agency": "gz-union", "topic": "union_relief_given"},
    ]


async def test_a_replayed_year_stamps_conflicts_with_its_business_time(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVHUB_SIMULATE", "true")
    async with running_hub(fresh_db_url) as hub:
        events = await collect(hub, "t-simulated", CONFLICTS_CHANGED)
        agreeing, settled = make_ric(date(1940, 1, 1)), make_ric(date(1941, 1, 1))
        for id_number in (agreeing, settled):
            await publish(
                hub,
                published(
                    "person_registered",
                    "gz-psb",
                    [record(person(id_number, "李四"), when="2008-02-20T10:00:00+08:00")],
                ),
            )
            await publish(
                hub,
                published(
                    "pension_paid",
                    "gz-hrss",
                    [
                        record(
                            pension(id_number, "李泗", "2008-03-15"),
                            when="2008-03-15T10:00:00+08:00",
                        )
                    ],
                ),
            )
        await publish(
            hub,
            published(
                "pension_paid",
                "gz-hrss",
                [record(pension(agreeing, "李四", "2008-04-15"), when="2008-04-15T10:00:00+08:00")],
            ),
        )
        # The simulation drives the clock (here through an evaluation as of a day).
        evaluated = await hub.client.post(
            "/alerting/v1/evaluate",
            json={"as_of": "2008-04-30T23:59:59+08:00"},
            headers=hub.operator(),
        )
        assert evaluated.status_code == 200, evaluated.text
        (open_one,) = await conflicts_of(hub, settled)
        reply = await hub.client.post(
            f"/registry/v1/conflicts/{open_one['id']}/settle",
            json={"note": "以户籍登记为准"},
            headers=hub.operator(),
        )
        assert reply.status_code == 200, reply.text
        await hub.settle()

        entries = [c for e in events.events for c in e.data["conflicts"]]
        times = [
            (c["status"], moment(c["detected_at"]), c["closed_at"] and moment(c["closed_at"]))
            for c in entries
        ]
        detected = moment("2008-03-15T10:00:00+08:00")
        assert times == [
            ("open", detected, None),
            ("open", detected, None),
            ("resolved", detected, moment("2008-04-15T10:00:00+08:00")),
            ("settled", detected, moment("2008-04-30T23:59:59+08:00")),
        ]
