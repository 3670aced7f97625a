"""Alerting announces its rules on the bus (`alerting.rules.announced`): the topics each rule
reads and its window, for services that may not read alerting's tables (the exchange's
timeliness scorecard). The changed rule at each change, every rule at each start."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from govhub_alerting.rules.service import adopt_city
from govhub_common.event_contracts import parse_data
from govhub_common.events import CloudEvent
from govhub_common.settings import CommonSettings
from govhub_common.testing import Hub, bus_tap, running_hub, wait_for
from tests.alerting.support import Capture, new_id

ANNOUNCED = "alerting.rules.announced"
RULES = "/alerting/v1/rules"


def tax_rule(rule_id: str, within: str = "P30D") -> dict[str, Any]:
    """A licence without a local or national tax registration within a period."""
    return {
        "id": rule_id,
        "kind": "absence",
        "title": "应办未办税务登记",
        "severity": "high",
        "assigned_agency": "gz-ltax",
        "trigger": {"topic": "enterprise_registered", "key": "uscc", "date": "established_date"},
        "expected": [
            {"topic": "local_tax_registered", "key": "uscc", "date": "registered_date"},
            {"topic": "national_tax_registered", "key": "uscc", "date": "registered_date"},
        ],
        "within": within,
    }


def announcements(capture: Capture, rule_id: str) -> list[CloudEvent]:
    """The announcements naming the rule, in the order they were published, each checked
    against its contract."""
    events = [
        e
        for e in capture.events
        if e.type == ANNOUNCED and any(r["rule_id"] == rule_id for r in e.data["rules"])
    ]
    for event in events:
        parse_data(event)
    return events


async def send(hub: Hub, method: str, path: str, **kw: Any) -> dict[str, Any]:
    reply = await hub.client.request(method, path, headers=hub.operator(), **kw)
    assert reply.status_code in (200, 201), f"{method} {path}: {reply.status_code} {reply.text}"
    await hub.settle()
    return dict(reply.json())


async def test_a_rule_is_announced_when_created_versioned_disabled_and_enabled(
    hub: Hub, capture: Capture
) -> None:
    rule_id = new_id()
    await send(hub, "POST", RULES, json=tax_rule(rule_id))
    (created,) = announcements(capture, rule_id)
    assert created.source == "govhub/alerting"
    assert created.subject == f"rule/{rule_id}"
    assert created.data == {
        "rules": [
            {
                "rule_id": rule_id,
                "version": 1,
                "kind": "absence",
                "enabled": True,
                "assigned_agency": "gz-ltax",
                "topics": [
                    "enterprise_registered",
                    "local_tax_registered",
                    "national_tax_registered",
                ],
                "window_days": 30,
            }
        ]
    }

    # A new version with a longer deadline: announced again, with only this rule.
    await send(hub, "PUT", f"{RULES}/{rule_id}", json=tax_rule(rule_id, within="P6W"))
    versioned = announcements(capture, rule_id)[-1]
    (entry,) = versioned.data["rules"]
    assert (entry["version"], entry["window_days"], entry["enabled"]) == (2, 42, True)

    await send(hub, "POST", f"{RULES}/{rule_id}/disable")
    (entry,) = announcements(capture, rule_id)[-1].data["rules"]
    assert (entry["version"], entry["enabled"]) == (2, False)

    # Disabling a disabled rule changes nothing, so nothing is announced.
    await send(hub, "POST", f"{RULES}/{rule_id}/disable")
    assert len(announcements(capture, rule_id)) == 3

    await send(hub, "POST", f"{RULES}/{rule_id}/enable")
    (entry,) = announcements(capture, rule_id)[-1].data["rules"]
    assert (entry["version"], entry["enabled"]) == (2, True)
    assert len(announcements(capture, rule_id)) == 4

    # Disabled again, so it sets no timers for the shared hub's later tests.
    await send(hub, "POST", f"{RULES}/{rule_id}/disable")
    assert len(announcements(capture, rule_id)) == 5


async def test_each_kind_announces_the_topics_it_reads_and_its_window(
    hub: Hub, capture: Capture
) -> None:
    # Created disabled: they judge none of the shared hub's records.
    after_death, relief = new_id(), new_id()
    await send(hub, "POST", RULES, json={
        "id": after_death,
        "kind": "contradiction",
        "title": "死亡人员仍领取养老金",
        "assigned_agency": "gz-hrss",
        "enabled": False,
        "forbidding": [
            {"topic": "person_died", "key": "id_number", "date": "death_date"},
            {"topic": "registry_person_deceased", "key": "id_number", "date": "death_date"},
        ],
        "forbidden": [{"topic": "pension_paid", "key": "id_number", "date": "paid_date"}],
    })  # fmt: skip
    await send(hub, "POST", RULES, json={
        "id": relief,
        "kind": "duplicate",
        "title": "同一家庭重复领取救助物资",
        "assigned_agency": "gz-civil",
        "enabled": False,
        # Two views of one topic: the topic is read once.
        "records": [
            {"topic": "civil_relief_given", "key": "household_id", "date": "given_date"},
            {"topic": "union_relief_given", "key": "household_id", "date": "given_date"},
            {"topic": "civil_relief_given", "key": "household_id", "date": "given_date"},
        ],
        "same": ["item"],
        "window": "P60D",
    })  # fmt: skip

    (contradiction,) = announcements(capture, after_death)[0].data["rules"]
    assert (contradiction["kind"], contradiction["enabled"]) == ("contradiction", False)
    assert contradiction["topics"] == ["person_died", "registry_person_deceased", "pension_paid"]
    assert contradiction["window_days"] is None
    (duplicate,) = announcements(capture, relief)[0].data["rules"]
    assert (duplicate["kind"], duplicate["enabled"]) == ("duplicate", False)
    assert duplicate["topics"] == ["civil_relief_given", "union_relief_given"]
    assert duplicate["window_days"] == 60


async def test_every_rule_is_announced_at_each_start(
    fresh_db_url: str, amqp_url: str, amqp_exchange: str
) -> None:
    """A consumer that subscribes after the rules were made (the exchange's scorecard added
    to a running hub) learns every one of them at alerting's next start."""
    rule_id = new_id()
    async with running_hub(fresh_db_url) as hub:
        async with hub.runtime.db.session() as session:
            await adopt_city(session, Path(os.environ["GOVHUB_CITY_FILES"]))
        await send(hub, "POST", RULES, json=tax_rule(rule_id, within="P20D"))
        await send(hub, "POST", f"{RULES}/pension_after_death/disable")
        listed = (await send(hub, "GET", RULES, params={"limit": 100}))["data"]
    rules = {rule["id"]: rule for rule in listed}
    assert {rule_id, "tax_registration_missing", "pension_after_death"} <= set(rules)

    settings = CommonSettings(
        amqp_url=amqp_url,
        amqp_exchange=amqp_exchange,
        amqp_queue_prefix=f"{amqp_exchange}.rules-{uuid.uuid4().hex[:6]}.",
        amqp_delete_queues_at_stop=True,
    )
    # The tap is bound before alerting starts, as a consumer group created meanwhile is.
    async with (
        bus_tap(amqp_url, amqp_exchange) as seen,
        running_hub(fresh_db_url, settings=settings),
    ):

        def announced() -> list[CloudEvent]:
            return [
                e
                for e in seen
                if e.type == ANNOUNCED and any(r["rule_id"] == rule_id for r in e.data["rules"])
            ]

        (event,) = await wait_for(announced)
    parse_data(event)
    entries = {entry["rule_id"]: entry for entry in event.data["rules"]}
    assert set(entries) == set(rules)
    for rule in rules.values():
        entry = entries[rule["id"]]
        assert (entry["version"], entry["enabled"], entry["kind"]) == (
            rule["version"],
            rule["enabled"],
            rule["definition"]["kind"],
        )
    assert entries["pension_after_death"]["enabled"] is False
    assert entries[rule_id]["window_days"] == 20
    assert entries["tax_registration_missing"]["topics"] == [
        "enterprise_registered",
        "local_tax_registered",
        "national_tax_registered",
    ]
