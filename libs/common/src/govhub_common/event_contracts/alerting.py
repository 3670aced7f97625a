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
