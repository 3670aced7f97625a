from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from govhub_exchange.fields import AGENCY_CODE, TOPIC_CODE, Text

SharingType = Literal["unconditional", "conditional", "not_shared"]
Sensitivity = Literal["public", "internal", "sensitive", "confidential"]

EXAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uscc", "name", "registered_on"],
    "properties": {
        "uscc": {
            "type": "string",
            "title": "统一社会信用代码",
            "x-sensitivity": "public",
            "x-personal": False,
        },
        "name": {
            "type": "string",
            "title": "企业名称",
            "x-sensitivity": "public",
            "x-personal": False,
        },
        "registered_on": {
            "type": "string",
            "format": "date",
            "title": "成立日期",
            "x-sensitivity": "public",
            "x-personal": False,
        },
        "legal_rep_id": {
            "type": "string",
            "title": "法定代表人身份证号",
            "x-sensitivity": "sensitive",
            "x-personal": True,
        },
    },
}


# A topic that is not shared names its legal basis (a non-empty string).
_LEGAL_BASIS_WHEN_NOT_SHARED: dict[str, Any] = {
    "if": {"properties": {"sharing_type": {"const": "not_shared"}}},
    "then": {
        "required": ["legal_basis"],
        "properties": {"legal_basis": {"type": "string", "minLength": 1}},
    },
}


class Retention(BaseModel):
    """How long a topic's records stay in the live log (保存期限) and the law that says so:
    older segments are archived to files and leave PostgreSQL (docs/exchange.md,
    "Retention and archive"). None keeps every record live."""

    days: int = Field(ge=1, le=36_500, description="Records older than this leave the live log.")
    legal_basis: Text = Field(
        min_length=1, max_length=2000, description="The rule that sets the period."
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"days": 1825, "legal_basis": "《企业信息公示暂行条例》第八条"}]
        },
    }


class TopicCreate(BaseModel):
    code: str = Field(pattern=TOPIC_CODE, max_length=64, examples=["enterprise_registered"])
    title: Text = Field(min_length=1, max_length=200, examples=["企业开业登记"])
    description: Text = Field("", max_length=4000)
    sharing_type: SharingType
    legal_basis: Text | None = Field(
        None, max_length=2000, description="Required when the topic is not shared."
    )
    owner: str | None = Field(
        None, pattern=AGENCY_CODE, description="Operators only: the owning agency."
    )
    retention: Retention | None = Field(
        None, description="How long records stay in the live log; none: for ever."
    )
    json_schema: dict[str, Any] = Field(
        alias="schema",
        description="JSON Schema 2020-12 of a record's data: an object whose properties are "
        "the data items, each with `title`, `x-sensitivity` and `x-personal`.",
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            **_LEGAL_BASIS_WHEN_NOT_SHARED,
            "examples": [
                {
                    "code": "enterprise_registered",
                    "title": "企业开业登记",
                    "description": "市场监管局核准的企业设立登记，供税务、社保比对。",
                    "sharing_type": "conditional",
                    "schema": EXAMPLE_SCHEMA,
                }
            ],
        },
    }

    @model_validator(mode="after")
    def _legal_basis_when_not_shared(self) -> TopicCreate:
        if self.sharing_type == "not_shared" and not self.legal_basis:
            raise ValueError("legal_basis is required when sharing_type is not_shared")
        return self


class TopicUpdate(BaseModel):
    title: Text | None = Field(None, min_length=1, max_length=200)
    description: Text | None = Field(None, max_length=4000)
    sharing_type: SharingType | None = None
    legal_basis: Text | None = Field(None, max_length=2000)
    retention: Retention | None = Field(
        None, description="How long records stay in the live log; null: for ever."
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"title": "企业开业登记（含分支机构）", "sharing_type": "unconditional"}]
        },
    }


class TopicVersionCreate(BaseModel):
    json_schema: dict[str, Any] = Field(
        alias="schema",
        description="The new version's JSON Schema: it may add data items, not drop or "
        "retype those of earlier versions.",
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"schema": EXAMPLE_SCHEMA}]},
    }


class TopicVersion(BaseModel):
    """One version of a topic's record schema."""

    topic: str
    version: int
    json_schema: dict[str, Any] = Field(alias="schema", description="JSON Schema 2020-12.")

    model_config = {"populate_by_name": True}


class DataItemPublic(BaseModel):
    topic: str
    name: str
    title: str
    type: str | None
    format: str | None
    sensitivity: str
    personal: bool
    required: bool
    since_version: int


class TopicPublic(BaseModel):
    code: str
    owner: str
    title: str
    description: str
    sharing_type: str
    legal_basis: str | None
    retention: Retention | None
    current_version: int
    head_seq: int
    log_start_seq: int = Field(
        description="The first seq still in the live log: those before it are archived."
    )
    created_at: datetime
    updated_at: datetime


class TopicDetail(TopicPublic):
    """A topic with its current schema and data items."""

    json_schema: dict[str, Any] = Field(
        alias="schema", description="The current version's JSON Schema."
    )
    data_items: list[DataItemPublic]

    model_config = {
        "populate_by_name": True,
        "json_schema_extra": {
            "examples": [
                {
                    "code": "enterprise_registered",
                    "owner": "gz-amr",
                    "title": "企业开业登记",
                    "description": "市场监管局核准的企业设立登记，供税务、社保比对。",
                    "sharing_type": "conditional",
                    "legal_basis": None,
                    "retention": {"days": 1825, "legal_basis": "《企业信息公示暂行条例》第八条"},
                    "current_version": 1,
                    "head_seq": 1024,
                    "log_start_seq": 1,
                    "created_at": "2026-03-02T08:30:00Z",
                    "updated_at": "2026-03-02T08:30:00Z",
                    "schema": EXAMPLE_SCHEMA,
                    "data_items": [
                        {
                            "topic": "enterprise_registered",
                            "name": "uscc",
                            "title": "统一社会信用代码",
                            "type": "string",
                            "format": None,
                            "sensitivity": "public",
                            "personal": False,
                            "required": True,
                            "since_version": 1,
                        }
                    ],
                }
            ]
        },
    }
