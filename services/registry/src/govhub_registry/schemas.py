"""API models of the registry (what agencies and operators read and send)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from govhub_common.inputs import NO_NUL

# Lists are `govhub_common.pagination.Page[...]` of these models.

_USCC = "91440101MA59CTL309"
_RIC = "440106197104041235"

TOPIC_CODE = r"^[a-z][a-z0-9_]{0,63}$"
# The shape of the IDs (GB 32100 and GB 11643): 18 characters, the last a check character
# that no pattern can compute (a well-shaped ID whose check fails names no subject: 404).
USCC_SHAPE = r"^[0-9]{8}[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{10}$"
RIC_SHAPE = r"^[0-9]{6}[0-9]{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]$"
SUBJECT_ID = rf"{USCC_SHAPE}|{RIC_SHAPE}"


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
                    "id": _USCC,
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
                    "subject_id": _USCC,
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


class ReviewPublic(BaseModel):
    id: int
    subject_kind: str
    topic: str
    seq: int
    publisher: str
    record: dict[str, Any]
    candidates: list[dict[str, Any]]
    status: Literal["pending", "linked", "rejected"]
    linked_id: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class ReviewLink(BaseModel):
    """Link the record to a registered subject (404 `not_found` when there is none)."""

    decision: Literal["link"]
    id: str = Field(
        pattern=SUBJECT_ID, description="The USCC or resident ID of the subject to link to."
    )

    model_config = ConfigDict(extra="forbid")


class ReviewReject(BaseModel):
    """Reject the match: the record is kept as unmapped."""

    decision: Literal["reject"]
    id: None = Field(None, description="Nothing to link to.")

    model_config = ConfigDict(extra="forbid")


class ReviewResolve(
    RootModel[Annotated[ReviewLink | ReviewReject, Field(discriminator="decision")]]
):
    """`link` with the subject's `id`, or `reject`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"decision": "link", "id": _RIC}, {"decision": "reject"}]}
    )


class UnmappedPublic(BaseModel):
    id: int
    topic: str
    seq: int
    publisher: str
    data: dict[str, Any]
    reason: str
    received_at: datetime


class AccessLogPublic(BaseModel):
    accessed_at: datetime
    agency: str
    client_id: str | None
    fields: list[str]
    purpose: str
    action: str
    via_legal_entity: str | None = Field(
        None,
        description="The USCC of the legal entity whose record showed this person's data "
        "(the person is, or was, its legal representative); null for a read of the person "
        "itself.",
        examples=["91440101MA59CTL309"],
    )


class MatchDecisionPublic(BaseModel):
    id: int
    subject_kind: str
    topic: str
    seq: int
    decision: Literal["auto_link", "review", "no_match", "operator_link", "operator_reject"]
    linked_id: str | None
    score: float | None
    candidates: list[dict[str, Any]]
    decided_by: str
    decided_at: datetime
