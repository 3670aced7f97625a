"""API models of warnings, transitions and silences."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["open", "investigating", "resolved"]
Resolution = Literal["complied_late", "exempt", "false_positive", "penalised", "other"]


class WarningPublic(BaseModel):
    id: int
    rule_id: str
    rule_version: int
    kind: str
    title: str
    severity: str
    subject: str
    assigned_agency: str
    status: Status
    resolution: Resolution | None
    note: str | None
    trigger_date: date
    due_date: date | None
    raised_at: datetime
    resolved_at: datetime | None
    updated_at: datetime
    evidence: list[dict[str, Any]]


class HistoryEntry(BaseModel):
    from_status: Status | None
    to_status: Status
    resolution: Resolution | None
    note: str | None
    actor: str
    at: datetime


class WarningDetail(WarningPublic):
    history: list[HistoryEntry]


class WarningPage(BaseModel):
    data: list[WarningPublic]
    next: str | None


class TransitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["investigating", "resolved", "open"]
    resolution: Resolution | None = Field(None, description="Required when resolving.")
    note: str | None = Field(None, max_length=2000)


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(min_length=1)
    subject: str = Field(min_length=1, max_length=200)
    until: date = Field(description="Business date up to which (inclusive) nothing is raised.")
    reason: str = Field(min_length=1, max_length=2000)


class SilencePublic(BaseModel):
    id: int
    rule_id: str
    subject: str
    until: date
    reason: str
    created_by: str
    created_at: datetime
