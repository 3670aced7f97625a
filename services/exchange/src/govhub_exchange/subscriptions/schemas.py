from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from govhub_exchange.fields import AGENCY_CODE, NO_NUL, TOPIC_CODE, Text

SubscriptionStatus = Literal["pending", "approved", "refused", "revoked"]
WebhookStatus = Literal["active", "paused"]


class SubscriptionCreate(BaseModel):
    topic: str = Field(pattern=TOPIC_CODE, examples=["enterprise_registered"])
    purpose: Text = Field(min_length=1, max_length=2000, examples=["税务登记比对"])
    items: list[Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]] = (
        Field(min_length=1, description="The data items needed.")
    )
    subscriber: str | None = Field(
        None,
        pattern=AGENCY_CODE,
        description="Operators only: the subscribing agency (default: the caller's), so that "
        "a city's files (`govhub apply`) can request its agencies' subscriptions.",
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "topic": "enterprise_registered",
                    "purpose": "新办企业税务登记比对（应办未办税务登记提醒）",
                    "items": ["uscc", "name", "registered_on"],
                }
            ]
        },
    }


class Decision(BaseModel):
    approve: StrictBool
    reason: Text | None = Field(
        None, max_length=2000, description="Required (not empty) to refuse."
    )

    @model_validator(mode="after")
    def _reason_for_refusal(self) -> Decision:
        if not self.approve and not self.reason:
            raise ValueError("a refusal needs a reason")
        return self

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            # A refusal gives its reason.
            "if": {"properties": {"approve": {"const": False}}},
            "then": {
                "required": ["reason"],
                "properties": {"reason": {"type": "string", "minLength": 1}},
            },
            "examples": [
                {"approve": True, "reason": "依据《广州市政务信息共享管理规定》共享"},
                {"approve": False, "reason": "法定代表人身份证号不在共享范围"},
            ],
        },
    }


class Revocation(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000)

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"reason": "比对项目已结束"}]},
    }


class WebhookSet(BaseModel):
    url: AnyHttpUrl

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"url": "https://data.gz-tax.example.gov.cn/govhub/webhook"}]
        },
    }


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
    webhook_status: WebhookStatus | None = Field(
        description="`paused` after the endpoint kept failing: deliveries wait (pending) "
        "until the webhook is set again or resumed; null without a webhook."
    )
    webhook_paused_reason: str | None
    webhook_paused_since: datetime | None
    webhook_consecutive_failures: int = Field(
        description="Failed attempts in a row (errors, non-2xx, deadline exceeded); 0 when "
        "the last attempt succeeded."
    )
    webhook_failing_since: datetime | None
    webhook_last_error: str | None = Field(description="The last failure of the current streak.")
    webhook_retry_at: datetime | None = Field(
        description="While failing, no attempt goes to the endpoint before this (backoff)."
    )
    webhook_delivered_seq: int = Field(
        description="Every webhook delivery up to this seq is delivered; the lag counts it."
    )
    delivered_seq: int
    acked_seq: int


class WebhookSecret(BaseModel):
    subscription_id: int
    url: str
    secret: str = Field(description="Standard Webhooks secret (whsec_...); shown once.")
