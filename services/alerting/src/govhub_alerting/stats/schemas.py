"""API models of the figures per rule."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RuleFigures(BaseModel):
    """What one rule found and what came of it, for the records triggering in a period."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rule_id": "tax_registration_missing",
                    "kind": "absence",
                    "title": "应办未办税务登记",
                    "assigned_agency": "gz-ltax",
                    "triggers": 1200,
                    "reminders_sent": 310,
                    "reminders_without_recipient": 4,
                    "complied_on_time": 1080,
                    "warnings_raised": 120,
                    "warnings_open": 35,
                    "complied_late": 70,
                    "false_positives": 5,
                    "follow_up_rate": 0.6087,
                    "compliance_rate": 0.9583,
                },
                {
                    "rule_id": "tax_registration_missing",
                    "month": "2026-03",
                    "kind": "absence",
                    "title": "应办未办税务登记",
                    "assigned_agency": "gz-ltax",
                    "triggers": 410,
                    "reminders_sent": 102,
                    "reminders_without_recipient": 1,
                    "complied_on_time": 372,
                    "warnings_raised": 38,
                    "warnings_open": 9,
                    "complied_late": 25,
                    "false_positives": 2,
                    "follow_up_rate": 0.6944,
                    "compliance_rate": 0.9683,
                },
            ]
        }
    )

    rule_id: str
    month: str | None = Field(
        None,
        pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
        description="With `by=month`: the month (`YYYY-MM`) of the triggers' business dates "
        "these figures are of; null for the whole period.",
    )
    kind: str
    title: str
    assigned_agency: str
    triggers: int = Field(description="Trigger records in the period (absence rules).")
    reminders_sent: int
    reminders_without_recipient: int = Field(
        description="Reminders due but not sent: no mobile known for the subject."
    )
    complied_on_time: int = Field(description="Triggers followed by the expected record in time.")
    warnings_raised: int
    warnings_open: int
    complied_late: int
    false_positives: int
    follow_up_rate: float | None = Field(
        description="Warnings resolved as complied late, of those not false positives."
    )
    compliance_rate: float | None = Field(
        description="Triggers complied with, on time or late (absence rules)."
    )
