from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["notification", "marketing"]


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

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["tax_registration_reminder"])
    title: str = Field("", max_length=100)
    signature: str = Field(examples=["【广州市政务服务数据管理局】"])
    body: str = Field(
        min_length=1, max_length=600, examples=["{name}：请于{deadline}前办理税务登记。"]
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

    title: str | None = Field(None, max_length=100)
    signature: str | None = None
    body: str | None = Field(None, min_length=1, max_length=600)
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
    params: dict[str, str | int | float] = Field(default_factory=dict)

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
