from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from govhub_common.contract import FieldError
from govhub_sms.fields import NO_NUL, TEMPLATE_CODE, DateTime, Mobile, Moment, ParamValue

PublicStatus = Literal["queued", "deferred", "sent", "ambiguous", "delivered", "failed", "expired"]
"""`ambiguous`: handed to a provider whose acceptance is unknown (a submit timeout, a link
lost, or a sender that died before recording the answer); never resent by itself: a later
receipt reconciles it, or an operator resends or abandons it."""


class MessageCreate(BaseModel):
    recipient: Mobile = Field(description="Chinese mobile number; stored as +86...")
    template: str = Field(
        pattern=TEMPLATE_CODE,
        description="The template's code; 404 `not_found` when there is no such template, "
        "409 `conflict` when it is inactive.",
        examples=["tax_registration_reminder"],
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="A value for each parameter the template names, and no other (409 "
        "`conflict` naming each missing or unknown one: a template's parameters are its "
        "state).",
        examples=[{"name": "广州某某科技有限公司", "deadline": "2024年5月20日"}],
    )
    not_before: Moment | None = Field(
        None,
        description="Not sent before this time (naive times are Asia/Shanghai); at most a "
        "year ahead.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "recipient": "+8613800138000",
                    "template": "tax_registration_reminder",
                    "params": {"name": "广州市海创信息有限公司", "deadline": "2024年5月20日"},
                    "not_before": "2024-05-06T09:00:00+08:00",
                }
            ]
        },
    )


class MessageBatchItem(MessageCreate):
    idempotency_key: str = Field(
        min_length=1,
        max_length=255,
        pattern=NO_NUL,
        description="Makes the item take effect once.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "idempotency_key": "gz-ltax-reminder-91440101MA59CTL309-20240506",
                    "recipient": "+8613800138000",
                    "template": "tax_registration_reminder",
                    "params": {"name": "广州市海创信息有限公司", "deadline": "2024年5月20日"},
                }
            ]
        },
    )


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
    history: list[StatusPublic] | None = Field(
        None, description="Every status the message went through (one message only)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6f8f2e-4d1c-4a57-9a8e-3f1f5d0c2b71",
                    "agency": "gz-ltax",
                    "idempotency_key": "gz-ltax-reminder-91440101MA59CTL309-20240506",
                    "recipient": "+8613800138000",
                    "template": "tax_registration_reminder",
                    "params": {"name": "广州市海创信息有限公司", "deadline": "2024年5月20日"},
                    "text": "【广州市政务服务数据管理局】广州市海创信息有限公司：贵企业已办理营业执照，"
                    "请于2024年5月20日前到主管税务机关办理税务登记。",
                    "encoding": "ucs2",
                    "segments": 1,
                    "status": "delivered",
                    "reason": None,
                    "not_before": "2024-05-06T01:00:00Z",
                    "next_attempt_at": None,
                    "expires_at": "2024-05-07T01:00:00Z",
                    "provider": "smpp-cmcc",
                    "provider_message_id": "4f2a91c0",
                    "created_at": "2024-05-06T00:12:31Z",
                    "updated_at": "2024-05-06T01:00:04Z",
                    "history": [
                        {
                            "status": "queued",
                            "reason": None,
                            "provider": None,
                            "changed_at": "2024-05-06T00:12:31Z",
                        },
                        {
                            "status": "sent",
                            "reason": None,
                            "provider": "smpp-cmcc",
                            "changed_at": "2024-05-06T01:00:01Z",
                        },
                        {
                            "status": "delivered",
                            "reason": None,
                            "provider": "smpp-cmcc",
                            "changed_at": "2024-05-06T01:00:04Z",
                        },
                    ],
                }
            ]
        }
    )


class BatchResult(BaseModel):
    index: int = Field(description="The item's position in the request.")
    outcome: Literal["created", "existing", "rejected", "conflict"] = Field(
        description="`existing`: the key was already used for the same message (answered as "
        "stored); `rejected`: refused, `errors` says why (also a key used for another message)."
    )
    id: str | None = None
    status: PublicStatus | None = None
    errors: list[FieldError] | None = Field(
        None, description="Each fault of a rejected or conflicting item ($[3].recipient)."
    )


class BatchReply(BaseModel):
    created: int
    existing: int
    rejected: int = Field(description="Items refused, conflicts included.")
    results: list[BatchResult] = Field(description="One per item, in the request's order.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "created": 1,
                    "existing": 1,
                    "rejected": 1,
                    "results": [
                        {
                            "index": 0,
                            "outcome": "created",
                            "id": "0b6f8f2e-4d1c-4a57-9a8e-3f1f5d0c2b71",
                            "status": "queued",
                            "errors": None,
                        },
                        {
                            "index": 1,
                            "outcome": "existing",
                            "id": "5c0e1d7a-2b3f-4e6a-8d9c-1a2b3c4d5e6f",
                            "status": "delivered",
                            "errors": None,
                        },
                        {
                            "index": 2,
                            "outcome": "rejected",
                            "id": None,
                            "status": None,
                            "errors": [
                                {
                                    "path": "$[2].recipient",
                                    "message": "Value error, not a mainland China mobile "
                                    "number (11 digits starting 13-19)",
                                    "type": "value_error",
                                }
                            ],
                        },
                    ],
                }
            ]
        }
    )


# The years a simulated clock may be set to, as the date-time's own year (the pattern a
# date-time string is held to beside its format).
DISPATCH_YEARS = r"^(?:20[0-9]{2}|21[0-9]{2}|2200)-"


class DispatchRequest(BaseModel):
    as_of: DateTime | None = Field(
        None,
        description="Run the round as of this time (default now), in the years 2000 to 2200.",
        json_schema_extra={"pattern": DISPATCH_YEARS},
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"as_of": "2024-05-20T09:30:00+08:00"}]}
    )


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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2024-05-20T01:30:00Z",
                    "claimed": 120,
                    "sent": 117,
                    "deferred": 2,
                    "failed": 1,
                    "expired": 0,
                    "reports_applied": 96,
                    "ambiguous": 0,
                    "recovered": 0,
                }
            ]
        }
    )


class AbandonRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "运营商确认该短信未发出，改为电话通知"}]},
    )

    reason: str | None = Field(
        None,
        max_length=500,
        pattern=NO_NUL,
        description="Why (e.g. 'the carrier confirmed it was not sent').",
    )
