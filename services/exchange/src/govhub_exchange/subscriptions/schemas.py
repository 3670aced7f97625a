from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field, model_validator

SubscriptionStatus = Literal["pending", "approved", "refused", "revoked"]


class SubscriptionCreate(BaseModel):
    topic: str = Field(examples=["enterprise_registered"])
    purpose: str = Field(min_length=1, max_length=2000, examples=["税务登记比对"])
    items: list[str] = Field(min_length=1, description="The data items needed.")


class Decision(BaseModel):
    approve: bool
    reason: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _reason_for_refusal(self) -> Decision:
        if not self.approve and not self.reason:
            raise ValueError("a refusal needs a reason")
        return self


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class WebhookSet(BaseModel):
    url: AnyHttpUrl


class SubscriptionPublic(BaseModel):
    id: int
    topic: str
    owner: str
    subscriber: str
    purpose: str
    items: list[str]
    status: SubscriptionStatus
    reason: str | None
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    pending_age_seconds: float | None = Field(
        description="How long a pending request has waited for the owner's decision."
    )
    webhook_url: str | None
    delivered_seq: int
    acked_seq: int


class WebhookSecret(BaseModel):
    subscription_id: int
    url: str
    secret: str = Field(description="Standard Webhooks secret (whsec_...); shown once.")
