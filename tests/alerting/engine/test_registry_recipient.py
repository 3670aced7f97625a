"""Reminders sent to a registry attribute: the subject's current mobile as the registry's
change events last said it, the trigger record's field as the fallback, and reminders with
no mobile known counted rather than dropped."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

from govhub_common.testing import Hub, wait_for
from govhub_demo.identifiers import unified_social_credit_code
from tests.alerting.support import (
    Capture,
    days,
    evaluate,
    licence,
    new_id,
    record_event,
    registry_change,
    scalar,
    uscc,
)

DEFAULT_RULE = "tax_registration_missing"
LICENCE_MOBILE = "+8613800138000"
REGISTRY_MOBILE = "+8613922223333"


async def rule_stats(hub: Hub, rule_id: str, year: int) -> dict[str, Any]:
    response = await hub.client.get(
        "/alerting/v1/stats",
        params={"rule": rule_id, "from": f"{year}-01-01", "to": f"{year}-12-31"},
        headers=hub.operator(),
    )
    assert response.status_code == 200, response.text
    (figures,) = response.json()["data"]
    return dict(figures)


def reminder_rule(rule_id: str, recipient: dict[str, Any], **trigger: Any) -> dict[str, Any]:
    """A licence without quality code in 15 days, reminded on day 10; the filter on a unique
    name keeps other tests' licences out of it."""
    return {
        "id": rule_id,
        "kind": "absence",
        "title": "开业未办组织机构代码",
        "severity": "low",
        "assigned_agency": "gz-qts",
        "trigger": {
            "topic": "enterprise_registered",
            "key": "uscc",
            "date": "established_date",
            "filter": {"name": rule_id},
            **trigger,
        },
        "expected": [{"topic": "quality_code_assigned", "key": "uscc", "date": "assigned_date"}],
        "within": "P15D",
        "reminders": [
            {
                "after": "P10D",
                "template": "quality_code_reminder",
                "recipient": recipient,
                "params": {"deadline": "$deadline"},
            }
        ],
    }


async def create(hub: Hub, rule: dict[str, Any]) -> Any:
    return await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())


async def test_the_default_licence_rule_reminds_the_registrys_current_mobile(
    hub: Hub, capture: Capture, day0: date
) -> None:
    moved, unknown_to_registry = uscc(), uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered",
                "gz-amr",
                licence(moved, day0, mobile=LICENCE_MOBILE),
                licence(unknown_to_registry, day0, mobile="+8613700137000"),
            )
        ]
    )
    await hub.settle()
    # After the licence, the enterprise gave market regulation a new mobile.
    await hub.runtime.bus.publish(
        [
            registry_change(
                "legal_entity",
                {"subject": moved, "values": {"mobile": REGISTRY_MOBILE, "address": "新址"}},
            )
        ]
    )
    await evaluate(hub, day0 + days(20))
    (reminder,) = capture.reminders(moved)
    assert reminder["recipient"] == REGISTRY_MOBILE
    assert reminder["template"] == "tax_registration_reminder"
    # The registry knows nothing of this one yet: the licence's own mobile.
    (fallback,) = capture.reminders(unknown_to_registry)
    assert fallback["recipient"] == "+8613700137000"


async def test_the_newest_registry_change_wins_whatever_order_they_arrive_in(
    hub: Hub, capture: Capture, day0: date
) -> None:
    code = uscc()
    await hub.runtime.bus.publish(
        [record_event("enterprise_registered", "gz-amr", licence(code, day0))]
    )
    await hub.settle()
    newer = registry_change(
        "legal_entity", {"subject": code, "values": {"mobile": REGISTRY_MOBILE}}
    )
    older = registry_change(
        "legal_entity",
        {"subject": code, "values": {"mobile": "+8613011112222"}},
        time=newer.time - timedelta(hours=1),
    )
    # A replay of an older change after the newer one, and the newer one redelivered.
    await hub.runtime.bus.publish([newer])
    await hub.runtime.bus.publish([older])
    await hub.runtime.bus.publish([newer])
    stored = await scalar(
        hub,
        "SELECT value FROM alerting.registry_contacts "
        "WHERE registry = 'legal_entity' AND subject = :s AND attribute = 'mobile'",
        s=code,
    )
    assert stored == REGISTRY_MOBILE
    await evaluate(hub, day0 + days(20))
    assert [r["recipient"] for r in capture.reminders(code)] == [REGISTRY_MOBILE]


async def test_a_reminder_with_no_mobile_known_is_counted_not_emitted(
    hub: Hub, capture: Capture, day0: date
) -> None:
    code = uscc()
    without_mobile = {k: v for k, v in licence(code, day0).items() if k != "mobile"}
    await hub.runtime.bus.publish([record_event("enterprise_registered", "gz-amr", without_mobile)])
    result = await evaluate(hub, day0 + days(20))
    assert result["reminders_without_recipient"] >= 1
    assert capture.reminders(code) == []
    figures = await rule_stats(hub, DEFAULT_RULE, day0.year)
    assert (figures["reminders_sent"], figures["reminders_without_recipient"]) == (0, 1)
    # Re-evaluating does not count it twice; the deadline still raises its warning.
    again = await evaluate(hub, day0 + days(31))
    assert again["reminders_without_recipient"] == 0
    assert again["warnings_raised"] >= 1
    figures = await rule_stats(hub, DEFAULT_RULE, day0.year)
    assert (figures["reminders_without_recipient"], figures["warnings_raised"]) == (1, 1)
    metrics = (await hub.client.get("/metrics")).text
    assert (
        f'govhub_alerting_reminders_unsent_total{{reason="no_recipient",rule="{DEFAULT_RULE}"}}'
        in metrics
    )


async def test_a_rule_reading_only_the_registry(hub: Hub, capture: Capture, day0: date) -> None:
    rule_id = new_id()
    response = await create(hub, reminder_rule(rule_id, {"registry_attribute": "mobile"}))
    assert response.status_code == 201, response.text
    known, unknown = uscc(), uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered",
                "gz-amr",
                *(
                    {**licence(c, day0, mobile=LICENCE_MOBILE), "name": rule_id}
                    for c in (known, unknown)
                ),
            )
        ]
    )
    # Whatever the registry makes of the licences lands first: in the session's shared hub
    # it may map the topic, and its change with the licence's mobile, newer, would replace
    # the one below (failed once in CI). Then the registry's current mobiles: a new one, none.
    await hub.wait_idle()
    await hub.runtime.bus.publish(
        [
            registry_change(
                "legal_entity",
                {"subject": known, "values": {"mobile": REGISTRY_MOBILE}},
                {"subject": unknown, "values": {"mobile": None}},
            )
        ]
    )
    await evaluate(hub, day0 + days(10))
    (reminder,) = [r for r in capture.reminders(known) if r["rule_id"] == rule_id]
    assert reminder["recipient"] == REGISTRY_MOBILE
    assert reminder["params"] == {"deadline": (day0 + days(15)).isoformat()}
    # The licence has a mobile, but the rule asked for the registry's, which has none.
    assert [r for r in capture.reminders(unknown) if r["rule_id"] == rule_id] == []
    figures = await rule_stats(hub, rule_id, day0.year)
    assert (figures["reminders_sent"], figures["reminders_without_recipient"]) == (1, 1)


async def test_a_person_rule_reads_the_person_registry(
    hub: Hub, capture: Capture, day0: date
) -> None:
    rule_id, person = new_id(), "4401" + uuid.uuid4().hex[:14].upper()
    rule = {
        "id": rule_id,
        "kind": "absence",
        "title": "出生未办户籍登记提示",
        "assigned_agency": "gz-psb",
        "trigger": {
            "topic": "person_registered",
            "key": "id_number",
            "date": "birth_date",
            "filter": {"name": rule_id},
        },
        "expected": [{"topic": "pension_paid", "key": "id_number", "date": "paid_date"}],
        "within": "P30D",
        "reminders": [
            {
                "after": "P5D",
                "template": "t_reminder",
                "recipient": {"registry_attribute": "mobile"},
            }
        ],
    }
    assert (await create(hub, rule)).status_code == 201
    await hub.runtime.bus.publish(
        [
            record_event(
                "person_registered",
                "gz-psb",
                {"id_number": person, "name": rule_id, "birth_date": day0.isoformat()},
            ),
            # The same key in the legal-entity registry must not be taken for the person's.
            registry_change(
                "legal_entity", {"subject": person, "values": {"mobile": LICENCE_MOBILE}}
            ),
            registry_change("person", {"subject": person, "values": {"mobile": REGISTRY_MOBILE}}),
        ]
    )
    await evaluate(hub, day0 + days(5))
    (reminder,) = [r for r in capture.reminders(person) if r["rule_id"] == rule_id]
    assert reminder["recipient"] == REGISTRY_MOBILE


async def test_through_the_registry_the_mobile_is_the_registrys_normalised_one(
    hub: Hub, capture: Capture, day0: date
) -> None:
    """The real registry consumes the licence and emits its change with the mobile it keeps
    (normalised to +86); alerting's projection takes it from there."""
    code = unified_social_credit_code(random.Random(), "440106")
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered", "gz-amr", licence(code, day0, mobile="138 0013 8000")
            )
        ]
    )

    async def projected() -> Any:
        await hub.settle()
        return await scalar(
            hub,
            "SELECT count(*) FROM alerting.registry_contacts WHERE subject = :s",
            s=code,
        )

    await wait_for(projected)
    await evaluate(hub, day0 + days(20))
    (reminder,) = capture.reminders(code)
    assert reminder["recipient"] == LICENCE_MOBILE


async def test_registry_recipients_are_checked_with_the_path_of_each_fault(hub: Hub) -> None:
    cases = [
        ({"registry_attribute": "fax"}, {}, "$.reminders[0].recipient.registry_attribute"),
        # Known to the registry, but not a contact alerting keeps.
        ({"registry_attribute": "name"}, {}, "$.reminders[0].recipient.registry_attribute"),
    ]
    for recipient, trigger, path in cases:
        response = await create(hub, reminder_rule(new_id(), recipient, **trigger))
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "unknown_reference"
        assert [e["path"] for e in body["errors"]] == [path]

    # A subject key that is neither uscc nor id_number: say which registry.
    relief = reminder_rule(new_id(), {"registry_attribute": "mobile"})
    relief["trigger"] = {"topic": "civil_relief_given", "key": "household_id", "date": "given_date"}
    relief["expected"] = [
        {"topic": "union_relief_given", "key": "household_id", "date": "given_date"}
    ]
    response = await create(hub, relief)
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["$.reminders[0].recipient.registry"]
    relief["reminders"][0]["recipient"]["registry"] = "person"
    assert (await create(hub, relief)).status_code == 201

    malformed = [
        ({}, "$.reminders[0].recipient"),
        ({"registry": "person", "field": "mobile"}, "$.reminders[0].recipient"),
        ({"registry_attribute": "Mobile"}, "$.reminders[0].recipient.registry_attribute"),
    ]
    for recipient, path in malformed:
        response = await create(hub, reminder_rule(new_id(), recipient))
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_rule"
        assert path in {e["path"] for e in response.json()["errors"]}
    both = reminder_rule(new_id(), {"field": "mobile"})
    both["reminders"][0]["recipient_field"] = "mobile"
    response = await create(hub, both)
    assert response.status_code == 422
    assert {e["path"] for e in response.json()["errors"]} == {"$.reminders[0]"}

    # The older spelling still works, and the field it names is checked.
    legacy = reminder_rule(new_id(), {"field": "mobile"})
    del legacy["reminders"][0]["recipient"]
    legacy["reminders"][0]["recipient_field"] = "telephone"
    response = await create(hub, legacy)
    assert [e["path"] for e in response.json()["errors"]] == ["$.reminders[0].recipient_field"]
    legacy["reminders"][0]["recipient_field"] = "mobile"
    response = await create(hub, legacy)
    assert response.status_code == 201, response.text
    assert response.json()["definition"]["reminders"][0]["recipient_field"] == "mobile"

    schema = (await hub.client.get("/alerting/v1/rules/schema", headers=hub.operator())).json()
    assert "registry_attribute" in schema["$defs"]["Recipient"]["properties"]
