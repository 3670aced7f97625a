"""API models of rules (the rule itself is the rule language model)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RulePublic(BaseModel):
    id: str
    version: int
    enabled: bool
    source: str
    updated_at: datetime | None
    updated_by: str | None
    definition: dict[str, Any]


class RuleList(BaseModel):
    data: list[RulePublic]
    next: str | None = None


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: datetime | None = Field(None, description="Evaluate as of this time (default now).")
    dry_run: bool = Field(True, description="List what would be raised; change nothing.")
    limit: int = Field(100, ge=1, le=1000, description="How many would-be warnings to list.")


class WouldRaise(BaseModel):
    subject: str
    trigger_date: date
    due_date: date | None
    evidence: list[dict[str, Any]]


class BackfillResult(BaseModel):
    rule_id: str
    as_of: datetime
    dry_run: bool
    would_raise: int
    warnings: list[WouldRaise]
    raised: int = 0
    timers_created: int = 0
