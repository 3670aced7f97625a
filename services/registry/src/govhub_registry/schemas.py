"""API models of the registry (what agencies and operators read and send)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next: str | None = None


class Provenance(BaseModel):
    agency: str
    seq: int | None = None
    valid_from: date | None = None


class SubjectPublic(BaseModel):
    kind: Literal["legal_entity", "person"]
    id: str
    attributes: dict[str, Any] = Field(description="Only the attributes the caller is granted.")
    sources: dict[str, Provenance]
    as_of: date | None = None
    known_at: datetime | None = None


class AttributeValuePublic(BaseModel):
    attribute: str
    value: Any
    source_agency: str
    source_topic: str
    seq: int
    rank: int
    valid_from: date
    valid_to: date | None
    recorded_at: datetime
    closed_at: datetime | None = Field(description="When valid_to became known.")


class RegistrationPublic(BaseModel):
    agency: str
    kind: str
    reference: str | None
    status: str
    start_date: date | None
    end_date: date | None
    last_date: date | None
    details: dict[str, Any]
    source_topic: str
    source_seq: int


class SearchHit(BaseModel):
    id: str
    name: str | None
    similarity: float
    attributes: dict[str, Any]


class Claim(BaseModel):
    agency: str
    value: Any
    seq: int
    valid_from: date


class ConflictPublic(BaseModel):
    id: int
    subject_kind: str
    subject_id: str
    attribute: str
    claims: list[Claim]
    status: Literal["open", "settled", "resolved"]
    detected_at: datetime
    updated_at: datetime
    settled_at: datetime | None
    settled_by: str | None
    note: str | None


class ConflictSettle(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="Why the operator settles it.")


class ReviewPublic(BaseModel):
    id: int
    subject_kind: str
    topic: str
    seq: int
    publisher: str
    record: dict[str, Any]
    candidates: list[dict[str, Any]]
    status: Literal["pending", "linked", "rejected"]
    linked_id: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class ReviewResolve(BaseModel):
    decision: Literal["link", "reject"]
    id: str | None = Field(None, description="The USCC or resident ID to link to (for link).")


class UnmappedPublic(BaseModel):
    id: int
    topic: str
    seq: int
    publisher: str
    data: dict[str, Any]
    reason: str
    received_at: datetime


class AccessLogPublic(BaseModel):
    accessed_at: datetime
    agency: str
    client_id: str | None
    fields: list[str]
    purpose: str
    action: str


class MatchDecisionPublic(BaseModel):
    id: int
    subject_kind: str
    topic: str
    seq: int
    decision: Literal["auto_link", "review", "no_match", "operator_link", "operator_reject"]
    linked_id: str | None
    score: float | None
    candidates: list[dict[str, Any]]
    decided_by: str
    decided_at: datetime
