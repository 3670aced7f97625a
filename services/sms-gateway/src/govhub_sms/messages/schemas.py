from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from govhub_common.identifiers import MobileNumber

PublicStatus = Literal["queued", "deferred", "sent", "ambiguous", "delivered", "failed", "expired"]
"""`ambiguous`: handed to a provider whose acceptance is unknown (a submit timeout, a link
lost, or a sender that died before recording the answer); never resent by itself: a later
receipt reconciles it, or an operator resends or abandons it."""


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: MobileNumber = Field(description="Chinese mobile number; stored as +86...")
    template: str = Field(min_length=1, max_length=64, examples=["tax_registration_reminder"])
    params: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"name": "广州某某科技有限公司", "deadline": "2024年5月20日"}],
    )
    not_before: datetime | None = Field(
        None, description="Not sent before this time (naive times are Asia/Shanghai)."
    )


class MessageBatchItem(MessageCreate):
    idempotency_key: str = Field(min_length=1, max_length=255)


class StatusPublic(BaseModel):
    status: PublicStatus
    reason: str | None
    provider: str | None
    changed_at: datetime


class MessagePublic(BaseModel):
    id: str
    agency: str
    idempotency_key: str
    recipient: str
    template: str
    params: dict[str, Any]
    text: str
    encoding: str
    segments: int
    status: PublicStatus
    reason: str | None
    not_before: datetime | None
    next_attempt_at: datetime | None
    expires_at: datetime
    provider: str | None
    provider_message_id: str | None
    created_at: datetime
    updated_at: datetime
    history: list[StatusPublic] | None = None


class MessageList(BaseModel):
    data: list[MessagePublic]
    next: str | None = None


class BatchResult(BaseModel):
    index: int
    outcome: Literal["created", "existing", "rejected", "conflict"]
    id: str | None = None
    status: PublicStatus | None = None
    errors: list[dict[str, Any]] | None = None


class BatchReply(BaseModel):
    created: int
    existing: int
    rejected: int
    results: list[BatchResult]


class DispatchRequest(BaseModel):
    as_of: datetime | None = Field(None, description="Run the round as of this time (default now).")


class DispatchReply(BaseModel):
    as_of: datetime
    claimed: int
    sent: int
    deferred: int
    failed: int
    expired: int
    reports_applied: int
    ambiguous: int = 0
    recovered: int = Field(0, description="Claims of stopped senders reconciled.")


class AbandonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None, max_length=500, description="Why (e.g. 'the carrier confirmed it was not sent')."
    )
