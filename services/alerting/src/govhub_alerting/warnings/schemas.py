"""API models of warnings (with the evidence as the caller may see it and the reminders sent
before them), transitions and silences."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from govhub_alerting.fields import Day, Text
from govhub_alerting.rules.schemas import Evidence

Status = Literal["open", "investigating", "resolved"]
Resolution = Literal["complied_late", "exempt", "false_positive", "penalised", "other"]

_WARNING_EXAMPLE: dict[str, Any] = {
    "id": 4211,
    "rule_id": "tax_registration_missing",
    "rule_version": 1,
    "kind": "absence",
    "title": "应办未办税务登记",
    "severity": "high",
    "subject": "91440101MA5CXXXX1K",
    "assigned_agency": "gz-ltax",
    "status": "resolved",
    "resolution": "complied_late",
    "note": "企业已于4月3日补办税务登记",
    "trigger_date": "2026-03-02",
    "due_date": "2026-04-01",
    "raised_at": "2026-04-01T16:00:00Z",
    "resolved_at": "2026-04-03T07:40:00Z",
    "updated_at": "2026-04-03T07:40:00Z",
    "evidence": [
        {
            "topic": "enterprise_registered",
            "seq": 18234,
            "publisher": "gz-amr",
            "subject": "91440101MA5CXXXX1K",
            "business_date": "2026-03-02",
            "data": {
                "uscc": "91440101MA5CXXXX1K",
                "name": "广州市天河区示范贸易有限公司",
                "established_date": "2026-03-02",
            },
            "withheld": ["mobile"],
            "masked": [],
        }
    ],
}
_REMINDERS_EXAMPLE: list[Any] = [
    {
        "idempotency_key": "tax_registration_missing:91440101MA5CXXXX1K:2026-03-02:P20D",
        "template": "tax_registration_reminder",
        "recipient": "+86138****8000",
        "due_at": "2026-03-21T16:00:00Z",
        "emitted_at": "2026-03-21T16:00:05Z",
        "status": "delivered",
        "status_changed_at": "2026-03-22T01:00:12Z",
    }
]
# (FastAPI drops nulls from the document's examples: a null field is left out of them.)
_HISTORY_EXAMPLE: list[Any] = [
    {"to_status": "open", "actor": "alerting", "at": "2026-04-01T16:00:00Z"},
    {
        "from_status": "open",
        "to_status": "investigating",
        "note": "已电话联系企业法定代表人",
        "actor": "gz-ltax/ltax-case-desk",
        "at": "2026-04-02T02:15:00Z",
    },
    {
        "from_status": "investigating",
        "to_status": "resolved",
        "resolution": "complied_late",
        "note": "企业已于4月3日补办税务登记",
        "actor": "gz-ltax/ltax-case-desk",
        "at": "2026-04-03T07:40:00Z",
    },
]


class ShownEvidence(Evidence):
    """A record behind a warning as the caller may see it: of another agency's record only
    the data items the caller's agency is granted (its approved subscriptions to the topic),
    personal ones masked; its own records whole. Operators see every item, personal ones
    masked. The subject is always shown."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": _WARNING_EXAMPLE["evidence"]}
    )

    data: dict[str, Any] = Field(
        description="The record's fields the rules read that the caller may see; personal "
        "ones masked (440106********1234, +86138****8000, 张*)."
    )
    withheld: list[str] = Field(
        description="Fields of the record the caller's agency is not granted, left out of "
        "`data` (its approved subscriptions to the topic do not hold them)."
    )
    masked: list[str] = Field(
        description="Fields of `data` the exchange's catalog marks personal (`x-personal`), "
        "shown masked."
    )


class ReminderPublic(BaseModel):
    """An SMS reminder alerting emitted for the warning's rule, subject and trigger, and what
    the SMS gateway last reported of it."""

    idempotency_key: str = Field(
        description="`rule:subject:trigger date:after`, the SMS message's idempotency key."
    )
    template: str
    recipient: str = Field(description="The mobile it was sent to, masked (+86138****8000).")
    due_at: datetime = Field(description="When it fell due (00:00 of its day, Asia/Shanghai).")
    emitted_at: datetime = Field(description="When alerting emitted it to the SMS gateway.")
    status: str | None = Field(
        description="The message's status as the SMS gateway last reported it (`queued`, "
        "`deferred`, `sent`, `ambiguous`, `delivered`, `failed`, `expired`); null until it "
        "reports one."
    )
    reason: str | None = Field(None, description="Why it failed or expired, as the gateway said.")
    status_changed_at: datetime | None = Field(
        None, description="When the gateway's status last changed."
    )


class WarningPublic(BaseModel):
    """A warning: a case assigned to an agency, raised by a rule about one subject."""

    model_config = ConfigDict(json_schema_extra={"examples": [_WARNING_EXAMPLE]})

    id: int
    rule_id: str
    rule_version: int = Field(description="The rule's version the warning was raised under.")
    kind: str = Field(description="The rule's kind: absence, contradiction or duplicate.")
    title: str
    severity: str
    subject: str = Field(description="Whom it is about (USCC, ID number, household...).")
    assigned_agency: str
    status: Status
    resolution: Resolution | None
    note: str | None
    trigger_date: date = Field(description="Business date of the triggering record.")
    due_date: date | None = Field(description="The deadline missed (absence rules).")
    raised_at: datetime
    resolved_at: datetime | None
    updated_at: datetime
    evidence: list[ShownEvidence] = Field(
        description="The records the warning is raised on, as the caller may see them."
    )


class HistoryEntry(BaseModel):
    """One move of a warning, by whom and when."""

    from_status: Status | None = Field(None, description="None for the raising.")
    to_status: Status
    resolution: Resolution | None = Field(None, description="Given when resolving.")
    note: str | None = None
    actor: str = Field(
        description="`alerting`, or the agency and client that moved it (`<agency>/<client>`), "
        "or the person acting for the agency through the console (`<agency>/<person>`)."
    )
    at: datetime


class WarningDetail(WarningPublic):
    """A warning with its history, oldest move first, and the reminders sent before it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_WARNING_EXAMPLE,
                    "history": _HISTORY_EXAMPLE,
                    "reminders": _REMINDERS_EXAMPLE,
                }
            ]
        }
    )

    history: list[HistoryEntry]
    reminders: list[ReminderPublic] = Field(
        description="The SMS reminders sent before the deadline for this rule, subject and "
        "trigger date (absence rules), oldest first, with their delivery status."
    )


class TransitionCreate(BaseModel):
    """A move of a warning: open -> investigating -> resolved (or back to open)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "investigating", "note": "已电话联系企业法定代表人"},
                {
                    "status": "resolved",
                    "resolution": "complied_late",
                    "note": "企业已于4月3日补办税务登记",
                },
            ],
            # What the validator below checks, for those who read the schema.
            "if": {"properties": {"status": {"const": "resolved"}}},
            "then": {
                "required": ["resolution"],
                "properties": {"resolution": {"enum": list(get_args(Resolution))}},
            },
            "else": {"properties": {"resolution": {"type": "null"}}},
        },
    )

    status: Literal["investigating", "resolved", "open"]
    resolution: Resolution | None = Field(
        None, validate_default=True, description="Required when resolving, and given only then."
    )
    note: Text | None = Field(None, max_length=2000)

    @field_validator("resolution")
    @classmethod
    def _resolution_with_resolving(cls, resolution: str | None, info: ValidationInfo) -> str | None:
        resolving = info.data.get("status") == "resolved"
        if resolving and resolution is None:
            raise ValueError("required when status is resolved")
        if not resolving and resolution is not None:
            raise ValueError("only with status resolved")
        return resolution


class SilenceCreate(BaseModel):
    """Nothing is raised by a rule about a subject up to a date."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rule_id": "tax_registration_missing",
                    "subject": "91440101MA5CXXXX1K",
                    "until": "2026-06-30",
                    "reason": "企业已申请延期办理税务登记",
                }
            ]
        },
    )

    rule_id: Text = Field(min_length=1)
    subject: Text = Field(min_length=1, max_length=200)
    until: Day = Field(description="Business date up to which (inclusive) nothing is raised.")
    reason: Text = Field(min_length=1, max_length=2000)


class SilencePublic(BaseModel):
    """A silence: what it holds back, until when, why and who set it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "rule_id": "tax_registration_missing",
                    "subject": "91440101MA5CXXXX1K",
                    "until": "2026-06-30",
                    "reason": "企业已申请延期办理税务登记",
                    "created_by": "gz-ltax",
                    "created_at": "2026-03-25T01:20:00Z",
                }
            ]
        }
    )

    id: int
    rule_id: str
    subject: str
    until: date
    reason: str
    created_by: str
    created_at: datetime
