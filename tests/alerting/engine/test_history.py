"""Dry run and backfill over the history of any topic: every record alerting receives is
kept, so a rule written after the records were published, over topics and fields no rule
read, still sees them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa

from govhub_alerting.engine.history import prune_expired_records
from govhub_alerting.engine.ingest import ingest_event
from govhub_common.testing import Hub
from tests.alerting.support import (
    Capture,
    at,
    days,
    evaluate,
    licence,
    new_id,
    record_event,
    scalar,
    uscc,
    warnings_of,
)


def permit_topics() -> tuple[str, str]:
    """Two topics of their own: nothing in the session reads them before the test's rule."""
    tag = uuid.uuid4().hex[:8]
    return f"permit_issued_{tag}", f"permit_inspected_{tag}"


def permit(code: str, day: date, **extra: Any) -> dict[str, Any]:
    return {"uscc": code, "issued_on": day.isoformat(), **extra}


def inspection(code: str, day: date) -> dict[str, Any]:
    return {"uscc": code, "inspected_on": day.isoformat(), "inspector": "李四"}


def inspection_rule(rule_id: str, issued: str, inspected: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "kind": "absence",
        "title": "许可发放后未检查",
        "severity": "medium",
        "assigned_agency": "gz-qts",
        "trigger": {"topic": issued, "key": "uscc", "date": "issued_on"},
        "expected": [{"topic": inspected, "key": "uscc", "date": "inspected_on"}],
        "within": "P30D",
        "auto_resolve": True,
    }


def sale_after_closure_rule(rule_id: str, closed: str, trading: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "kind": "contradiction",
        "title": "停业后仍有销售",
        "assigned_agency": "gz-amr",
        "forbidding": [{"topic": closed, "key": "uscc", "date": "closed_on"}],
        "forbidden": [{"topic": trading, "key": "uscc", "date": "sold_on"}],
    }


async def post(hub: Hub, path: str, body: Any, **params: Any) -> dict[str, Any]:
    response = await hub.client.post(path, json=body, params=params, headers=hub.operator())
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_a_rule_over_topics_no_rule_read_is_dry_run_then_applied(
    hub: Hub, capture: Capture, day0: date
) -> None:
    issued, inspected = permit_topics()
    on_time, never, late, ahead = uscc(), uscc(), uscc(), uscc()
    # Published before any rule reads these topics.
    await hub.runtime.bus.publish(
        [
            record_event(
                issued,
                "gz-qts",
                *(permit(c, day0) for c in (on_time, never, late)),
                permit(ahead, day0 + days(20)),
            ),
            record_event(
                inspected,
                "gz-qts",
                inspection(on_time, day0 + days(10)),
                inspection(late, day0 + days(36)),
            ),
        ]
    )
    assert await scalar(hub, "SELECT count(*) FROM alerting.facts WHERE topic = :t", t=issued) == 0

    rule_id = new_id()
    rule = inspection_rule(rule_id, issued, inspected)
    as_of = at(day0 + days(40))
    dry = await post(hub, "/alerting/v1/rules/dry-run", rule, as_of=as_of)
    assert dry["would_raise"] == 2
    listed = {w["subject"]: w for w in dry["warnings"]}
    assert set(listed) == {never, late}
    (evidence,) = listed[never]["evidence"]
    assert (evidence["topic"], evidence["business_date"]) == (issued, day0.isoformat())
    assert isinstance(evidence["seq"], int)
    assert listed[never]["due_date"] == (day0 + days(30)).isoformat()
    # A dry run raises nothing and sets no timer.
    assert await warnings_of(hub, "gz-qts", rule=rule_id) == []
    assert (
        await scalar(hub, "SELECT count(*) FROM alerting.timers WHERE rule_id = :r", r=rule_id) == 0
    )
    # A record published after the first dry run is in the next one.
    forgotten = uscc()
    await hub.runtime.bus.publish([record_event(issued, "gz-qts", permit(forgotten, day0))])
    again = await post(hub, "/alerting/v1/rules/dry-run", rule, as_of=as_of)
    assert {w["subject"] for w in again["warnings"]} == {never, late, forgotten}

    await post(hub, "/alerting/v1/rules", rule)
    stored_dry = await post(
        hub, f"/alerting/v1/rules/{rule_id}/backfill", {"dry_run": True, "as_of": as_of}
    )
    assert {w["subject"] for w in stored_dry["warnings"]} == {never, late, forgotten}
    applied = await post(
        hub, f"/alerting/v1/rules/{rule_id}/backfill", {"dry_run": False, "as_of": as_of}
    )
    assert applied["raised"] == 3
    # The deadline still ahead (a permit of day 20) got its timer, as the event path sets it.
    assert applied["timers_created"] == 1
    await hub.settle()
    warnings = {w["subject"]: w for w in await warnings_of(hub, "gz-qts", rule=rule_id)}
    assert set(warnings) == {never, late, forgotten}
    assert warnings[never]["status"] == "open"
    # Inspected after the deadline, before the rule existed: complied late at once.
    assert (warnings[late]["status"], warnings[late]["resolution"]) == (
        "resolved",
        "complied_late",
    )
    assert [w["subject"] for w in capture.warnings("alerting.warning.raised", never)] == [never]

    # From now on the event path keeps the rule's facts: the permit of day 20 is judged by
    # its timer, and an inspection arriving now resolves the open warning.
    await evaluate(hub, day0 + days(51))
    assert {w["subject"] for w in await warnings_of(hub, "gz-qts", rule=rule_id)} == {
        never,
        late,
        forgotten,
        ahead,
    }
    await hub.runtime.bus.publish(
        [record_event(inspected, "gz-qts", inspection(never, day0 + days(45)))]
    )
    (warning,) = await warnings_of(hub, "gz-qts", rule=rule_id, subject=never)
    assert (warning["status"], warning["resolution"]) == ("resolved", "complied_late")


async def test_a_contradiction_over_a_topic_no_rule_read_sees_the_records_before_it(
    hub: Hub, day0: date
) -> None:
    """A rule created after the forbidding record was published judges the forbidden one
    that arrives afterwards against it (the facts were derived when the rule was stored)."""
    tag = uuid.uuid4().hex[:8]
    closed, trading = f"shop_closed_{tag}", f"shop_sale_{tag}"
    code = uscc()
    await hub.runtime.bus.publish(
        [
            record_event(closed, "gz-amr", {"uscc": code, "closed_on": day0.isoformat()}),
            record_event(trading, "gz-ltax", {"uscc": uscc(), "sold_on": day0.isoformat()}),
        ]
    )
    rule_id = new_id()
    await post(hub, "/alerting/v1/rules", sale_after_closure_rule(rule_id, closed, trading))
    # A sale after the closure arrives once the rule exists.
    await hub.runtime.bus.publish(
        [record_event(trading, "gz-ltax", {"uscc": code, "sold_on": (day0 + days(3)).isoformat()})]
    )
    (warning,) = await warnings_of(hub, "gz-amr", rule=rule_id)
    assert warning["subject"] == code
    assert [e["topic"] for e in warning["evidence"]] == [closed, trading]


async def test_a_field_no_rule_kept_is_read_from_the_stored_records(hub: Hub, day0: date) -> None:
    """Licences are kept as facts by the default rule, but without their district: a new
    rule filtering on it finds the district in the stored records."""
    district = f"测试区{uuid.uuid4().hex[:6]}"
    inside, outside = uscc(), uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered",
                "gz-amr",
                {**licence(inside, day0), "district": district},
                licence(outside, day0),
            )
        ]
    )
    rule = {
        "id": new_id(),
        "kind": "absence",
        "title": "本区开业未办组织机构代码",
        "assigned_agency": "gz-qts",
        "trigger": {
            "topic": "enterprise_registered",
            "key": "uscc",
            "date": "established_date",
            "filter": {"district": district},
        },
        "expected": [{"topic": "quality_code_assigned", "key": "uscc", "date": "assigned_date"}],
        "within": "P15D",
    }
    dry = await post(hub, "/alerting/v1/rules/dry-run", rule, as_of=at(day0 + days(20)))
    assert [w["subject"] for w in dry["warnings"]] == [inside]
    assert dry["warnings"][0]["evidence"][0]["data"]["district"] == district


async def test_records_older_than_the_retention_are_pruned(hub: Hub, day0: date) -> None:
    issued, _ = permit_topics()
    old, recent = uscc(), uscc()
    await hub.runtime.bus.publish(
        [record_event(issued, "gz-qts", permit(old, day0), permit(recent, day0))]
    )
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.text(
                "UPDATE alerting.records SET received_at = now() - interval '401 days' "
                "WHERE topic = :t AND data->>'uscc' = :c"
            ),
            {"t": issued, "c": old},
        )
    assert await prune_expired_records(hub.runtime.db, 0) == 0  # 0 keeps them for ever
    assert await prune_expired_records(hub.runtime.db, 400) >= 1
    kept = await scalar(
        hub,
        "SELECT array_agg(data->>'uscc') FROM alerting.records WHERE topic = :t",
        t=issued,
    )
    assert kept == [recent]


async def test_a_record_in_flight_while_a_rule_is_created_is_not_lost(hub: Hub, day0: date) -> None:
    """An event stored but not yet committed when a rule over its topic is created: its
    record must end up among the rule's facts, whichever transaction commits first."""
    tag = uuid.uuid4().hex[:8]
    closed, trading = f"shop_closed_{tag}", f"shop_sale_{tag}"
    code = uscc()
    rule = sale_after_closure_rule(new_id(), closed, trading)
    # Both topics are known (a rule may only name those), from records of other firms.
    await hub.runtime.bus.publish(
        [
            record_event(closed, "gz-amr", {"uscc": uscc(), "closed_on": day0.isoformat()}),
            record_event(trading, "gz-ltax", {"uscc": uscc(), "sold_on": day0.isoformat()}),
        ]
    )
    in_flight = record_event(closed, "gz-amr", {"uscc": code, "closed_on": day0.isoformat()})
    async with hub.runtime.db.session() as session:
        # The consumer's effect, its transaction held open while the rule is created.
        await ingest_event(session, in_flight, now=hub.runtime.clock.now())
        creating = asyncio.create_task(post(hub, "/alerting/v1/rules", rule))
        await asyncio.wait({creating}, timeout=2)  # let it run as far as it can
    await creating
    await hub.runtime.bus.publish(
        [record_event(trading, "gz-ltax", {"uscc": code, "sold_on": (day0 + days(3)).isoformat()})]
    )
    (warning,) = await warnings_of(hub, "gz-amr", rule=rule["id"])
    assert warning["subject"] == code
