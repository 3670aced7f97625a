"""Alerting's rules on the bus (`alerting.rules.announced`): what other services need of them
without reading alerting's tables, namely the topics each rule reads and its window (the
exchange's timeliness scorecard). Staged in the transaction of each change with the changed
rules, and with every rule at each start of alerting (as the exchange re-announces its
catalog), so a consumer that subscribes later learns them all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import SCHEMA, SOURCE
from govhub_alerting.rules.kinds import kind_of
from govhub_common.event_contracts.alerting import RULES_ANNOUNCED, AnnouncedRule, RulesAnnounced
from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events

if TYPE_CHECKING:  # rules/service.py stages these events
    from govhub_alerting.rules.service import StoredRule


def announced_rule(stored: StoredRule) -> AnnouncedRule:
    """A rule's whole current state, as the event carries it."""
    kind = kind_of(stored.rule)
    return AnnouncedRule(
        rule_id=stored.id,
        version=stored.version,
        kind=kind.name,
        enabled=stored.enabled,
        assigned_agency=stored.rule.assigned_agency,
        topics=kind.topics(stored.rule),
        window_days=kind.window_days(stored.rule),
    )


async def announce_rules(session: AsyncSession, rules: Sequence[StoredRule]) -> None:
    """Stage one event with these rules, in the caller's transaction (the relay publishes it
    after the commit)."""
    if not rules:
        return
    data = RulesAnnounced(rules=[announced_rule(stored) for stored in rules])
    event = CloudEvent(
        source=SOURCE,
        type=RULES_ANNOUNCED,
        subject=f"rule/{rules[0].id}" if len(rules) == 1 else None,
        data=data.model_dump(mode="json"),
    )
    await add_events(session, SCHEMA, [event])
