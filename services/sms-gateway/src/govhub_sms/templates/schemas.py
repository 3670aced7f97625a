from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["notification", "marketing"]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

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


class TemplateList(BaseModel):
    data: list[TemplatePublic]
    next: str | None = None


class RenderRequest(BaseModel):
    params: dict[str, str | int | float] = Field(default_factory=dict)


class RenderPublic(BaseModel):
    text: str
    encoding: str
    units: int
    segments: int
