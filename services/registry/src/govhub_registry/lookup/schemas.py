"""API models of the registries' reads: a golden record, its history, its registrations, a
search hit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from govhub_registry.fields import USCC_EXAMPLE

# Lists are `govhub_common.pagination.Page[...]` of these models.


class Provenance(BaseModel):
    agency: str
    seq: int | None = None
    valid_from: date | None = None


class SubjectPublic(BaseModel):
    kind: Literal["legal_entity", "person"]
    id: str
    attributes: dict[str, Any] = Field(description="Only the attributes the caller is granted.")
    sources: dict[str, Provenance]
    as_of: date | None = None
    known_at: datetime | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "kind": "legal_entity",
                    "id": USCC_EXAMPLE,
                    "attributes": {
                        "name": "广州市白云山制药有限公司",
                        "legal_rep_id": "440106********1235",
                        "legal_rep_name": "周建国",
                        "address": "广州市白云区同和街云祥路88号",
                        "district": "白云区",
                        "status": "active",
                    },
                    "sources": {
                        "name": {"agency": "gz-amr", "seq": 1042, "valid_from": "2024-03-01"},
                        "legal_rep_id": {
                            "agency": "gz-amr",
                            "seq": 1042,
                            "valid_from": "2024-03-01",
                        },
                        "legal_rep_name": {
                            "agency": "gz-amr",
                            "seq": 1042,
                            "valid_from": "2024-03-01",
                        },
                        "address": {"agency": "gz-amr", "seq": 1042, "valid_from": "2024-03-01"},
                        "district": {"agency": "gz-amr", "seq": 1042, "valid_from": "2024-03-01"},
                        "status": {"agency": "gz-amr", "seq": 1042, "valid_from": "2024-03-01"},
                    },
                    "as_of": None,
                    "known_at": None,
                }
            ]
        }
    }


class AttributeValuePublic(BaseModel):
    attribute: str
    value: Any
    source_agency: str
    source_topic: str
    seq: int
    rank: int
    valid_from: date
    valid_to: date | None
    recorded_at: datetime
    closed_at: datetime | None = Field(description="When valid_to became known.")


class RegistrationPublic(BaseModel):
    agency: str
    kind: str
    reference: str | None
    status: str
    start_date: date | None
    end_date: date | None
    last_date: date | None
    details: dict[str, Any]
    source_topic: str
    source_seq: int


class SearchHit(BaseModel):
    id: str
    name: str | None
    similarity: float
    attributes: dict[str, Any]
