"""API models of matching: the review queue, an operator's decision, the kept decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from govhub_registry.fields import RIC_EXAMPLE, SUBJECT_ID


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
        json_schema_extra={
            "examples": [{"decision": "link", "id": RIC_EXAMPLE}, {"decision": "reject"}]
        }
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
