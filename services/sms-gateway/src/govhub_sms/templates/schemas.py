from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from govhub_sms.fields import NO_NUL, TEMPLATE_CODE, ParamValue

Category = Literal["notification", "marketing"]
# 【name】: 2 to 30 characters, no whitespace or brackets, inside 【】.
SIGNATURE = r"^【[^【】\s\x00]{2,30}】$"
# Text with placeholders `{name}` (a parameter name: [a-z][a-z0-9_]*, up to 32 characters),
# or `{name:format}` for a date (rendering.DATE_FORMAT), and no other brace.
BODY = r"^(?:[^{}\x00]|\{[a-z][a-z0-9_]{0,31}(?::(?:[^{}%\x00]|%[Ymd%]|%-[md]){1,40})?\})*$"
_SIGNATURE_DOC = "The sender's signature, 【name】 (2 to 30 characters inside)."
_BODY_DOC = (
    "The text; parameters are written `{name}` ([a-z][a-z0-9_]*), no other braces. A "
    "parameter given as a date `YYYY-MM-DD` is written 2008年1月31日 unless the placeholder "
    "gives a format: `{deadline:%Y-%m-%d}` (%Y %m %d %-m %-d %%)."
)


class TemplateCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "tax_registration_reminder",
                    "title": "税务登记提醒",
                    "signature": "【广州市政务服务数据管理局】",
                    "body": "{name}：贵企业已办理营业执照，请于{deadline}前到主管税务机关办理"
                    "税务登记。",
                    "category": "notification",
                }
            ]
        },
    )

    code: str = Field(pattern=TEMPLATE_CODE, examples=["tax_registration_reminder"])
    title: str = Field("", max_length=100, pattern=NO_NUL)
    signature: str = Field(
        pattern=SIGNATURE, description=_SIGNATURE_DOC, examples=["【广州市政务服务数据管理局】"]
    )
    body: str = Field(
        min_length=1,
        max_length=600,
        pattern=BODY,
        description=_BODY_DOC,
        examples=["{name}：请于{deadline}前办理税务登记。"],
    )
    category: Category = "notification"
    opt_out_allowed: bool | None = Field(
        None,
        description="Whether an opt-out stops this template. Marketing: always. "
        "Notification: GOVHUB_SMS_NOTIFICATION_OPT_OUT unless set here.",
    )


class TemplateUpdate(BaseModel):
    """Only the fields given change; the version goes up by one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"body": "{name}：请于{deadline}前到主管税务机关办理税务登记，逾期将依法处理。"},
                {"active": False},
            ]
        },
    )

    title: str | None = Field(None, max_length=100, pattern=NO_NUL)
    signature: str | None = Field(None, pattern=SIGNATURE, description=_SIGNATURE_DOC)
    body: str | None = Field(
        None, min_length=1, max_length=600, pattern=BODY, description=_BODY_DOC
    )
    category: Category | None = None
    opt_out_allowed: bool | None = None
    active: bool | None = None


class TemplatePublic(BaseModel):
    code: str
    title: str
    signature: str
    body: str
    category: Category
    params: list[str]
    opt_out_allowed: bool
    version: int
    active: bool
    example_segments: int = Field(
        description="Parts billed with every parameter 4 characters long."
    )
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "tax_registration_reminder",
                    "title": "税务登记提醒",
                    "signature": "【广州市政务服务数据管理局】",
                    "body": "{name}：贵企业已办理营业执照，请于{deadline}前到主管税务机关办理"
                    "税务登记。",
                    "category": "notification",
                    "params": ["name", "deadline"],
                    "opt_out_allowed": False,
                    "version": 1,
                    "active": True,
                    "example_segments": 1,
                    "created_at": "2024-01-02T08:00:00Z",
                    "updated_at": "2024-01-02T08:00:00Z",
                }
            ]
        }
    )


class RenderRequest(BaseModel):
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="A value for each parameter the template names, and no other (409 "
        "`conflict` naming each missing or unknown one).",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"params": {"name": "广州市海创信息有限公司", "deadline": "2024年5月20日"}}
            ]
        }
    )


class RenderPublic(BaseModel):
    text: str
    encoding: str = Field(description="`gsm7` or `ucs2` (any Chinese character).")
    units: int = Field(description="GSM-7 septets or UTF-16 code units.")
    segments: int = Field(description="Parts the carrier bills.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "【广州市政务服务数据管理局】广州市海创信息有限公司：贵企业已办理营业执照，"
                    "请于2024年5月20日前到主管税务机关办理税务登记。",
                    "encoding": "ucs2",
                    "units": 64,
                    "segments": 1,
                }
            ]
        }
    )
