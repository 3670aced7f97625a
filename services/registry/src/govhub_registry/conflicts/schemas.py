"""API models of conflicts between agencies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from govhub_common.inputs import NO_NUL
from govhub_registry.fields import USCC_EXAMPLE


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

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": 17,
                    "subject_kind": "legal_entity",
                    "subject_id": USCC_EXAMPLE,
                    "attribute": "address",
                    "claims": [
                        {
                            "agency": "gz-amr",
                            "value": "广州市白云区同和街云祥路88号",
                            "seq": 1042,
                            "valid_from": "2024-03-01",
                        },
                        {
                            "agency": "gz-ltax",
                            "value": "广州市白云区同和街云祥路86号",
                            "seq": 311,
                            "valid_from": "2024-03-05",
                        },
                    ],
                    "status": "settled",
                    "detected_at": "2024-03-05T02:10:00Z",
                    "updated_at": "2024-03-06T01:30:00Z",
                    "settled_at": "2024-03-06T01:30:00Z",
                    "settled_by": "gz-datacenter",
                    "note": "地税局已按工商登记地址更正",
                }
            ]
        }
    }


class ConflictSettle(BaseModel):
    note: str = Field(
        min_length=1, max_length=2000, pattern=NO_NUL, description="Why the operator settles it."
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "地税局已按工商登记地址更正"}]}
    )
