from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

TOPIC_CODE = r"^[a-z][a-z0-9_]*$"
SharingType = Literal["unconditional", "conditional", "not_shared"]
Sensitivity = Literal["public", "internal", "sensitive", "confidential"]


class TopicCreate(BaseModel):
    code: str = Field(pattern=TOPIC_CODE, max_length=64, examples=["enterprise_registered"])
    title: str = Field(min_length=1, max_length=200, examples=["企业开业登记"])
    description: str = Field("", max_length=4000)
    sharing_type: SharingType
    legal_basis: str | None = Field(
        None, max_length=2000, description="Required when the topic is not shared."
    )
    owner: str | None = Field(None, description="Operators only: the owning agency.")
    json_schema: dict[str, Any] = Field(
        alias="schema",
        description="JSON Schema 2020-12 of a record's data: an object whose properties are "
        "the data items, each with `title`, `x-sensitivity` and `x-personal`.",
    )

    @model_validator(mode="after")
    def _legal_basis_when_not_shared(self) -> TopicCreate:
        if self.sharing_type == "not_shared" and not self.legal_basis:
            raise ValueError("legal_basis is required when sharing_type is not_shared")
        return self


class TopicUpdate(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    sharing_type: SharingType | None = None
    legal_basis: str | None = Field(None, max_length=2000)


class TopicVersionCreate(BaseModel):
    json_schema: dict[str, Any] = Field(alias="schema")


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
    current_version: int
    head_seq: int
    created_at: datetime
    updated_at: datetime


class TopicDetail(TopicPublic):
    json_schema: dict[str, Any] = Field(serialization_alias="schema")
    data_items: list[DataItemPublic]
