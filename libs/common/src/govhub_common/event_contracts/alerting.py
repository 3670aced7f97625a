"""Alerting's events (producer: govhub_alerting)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from govhub_common.event_contracts._base import Contract


class HubWarning(Contract):
    id: int
    rule_id: str
    rule_version: int
    title: str
    severity: str
    subject: str = Field(description="The trigger key's value; duplicates add `/<same>`.")
    assigned_agency: str
    status: str
    resolution: str | None
    raised_at: datetime
    resolved_at: datetime | None
    due_date: date | None
    evidence: list[dict[str, Any]] = Field(description="The records behind the warning.")


class Warnings(Contract):
    warnings: list[HubWarning]


class Reminder(Contract):
    idempotency_key: str
    rule_id: str
    subject: str
    recipient: str = Field(description="A +86 mobile number.")
    template: str
    params: dict[str, Any]
    due_at: datetime


class RemindersDue(Contract):
    reminders: list[Reminder]


RULES_ANNOUNCED = "alerting.rules.announced"


class AnnouncedRule(Contract):
    rule_id: str
    version: int
    kind: str = Field(description="absence, contradiction or duplicate (the rule kinds).")
    enabled: bool = Field(description="False when the rule is disabled or deleted.")
    assigned_agency: str
    topics: list[str] = Field(
        description="Every topic the rule reads (trigger and awaited/contradicting/duplicate "
        "topics), in the rule's order; `registry_person_deceased` stands for the registry's "
        "deaths (no exchange topic)."
    )
    window_days: int | None = Field(
        description="The rule's deadline or window in days; null for a kind without one."
    )


class RulesAnnounced(Contract):
    """Each entry is the rule's whole current state: a consumer keeps the highest version per
    rule, and at an equal version the later event (enabling or disabling keeps the version)."""

    rules: list[AnnouncedRule]
