"""The matching tables: every decision the matcher or an operator took on a record without a
usable key, and the records waiting for an operator (migration 0002)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "registry"


class MatchDecision(SQLModel, table=True):
    """One decision on a record without a usable key: auto_link, review or no_match by the
    matcher, or an operator's link or reject."""

    __tablename__ = "match_decision"
    __table_args__ = (
        # A record's decisions, by the topic and seq that name it.
        sa.Index("match_decision_record", "topic", "seq"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    subject_kind: str = Field(sa_type=sa.Text)
    topic: str = Field(sa_type=sa.Text)
    seq: int = Field(sa_type=sa.BigInteger)
    decision: str = Field(sa_type=sa.Text)
    linked_id: str | None = Field(default=None, sa_type=sa.Text)
    score: float | None = Field(default=None, sa_type=DOUBLE_PRECISION)
    candidates: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    decided_by: str = Field(sa_type=sa.Text)
    decided_at: datetime | None = database_now()


class MatchReview(SQLModel, table=True):
    """A record whose best candidate was neither clear nor absent: pending until an operator
    links or rejects it."""

    __tablename__ = "match_review"
    __table_args__ = (
        sa.UniqueConstraint("topic", "seq", name="match_review_topic_seq_key"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    subject_kind: str = Field(sa_type=sa.Text)
    topic: str = Field(sa_type=sa.Text)
    seq: int = Field(sa_type=sa.BigInteger)
    publisher: str = Field(sa_type=sa.Text)
    record: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    candidates: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))
    status: str = Field(
        default="pending",
        sa_column=sa.Column(sa.Text, nullable=False, server_default="pending"),
    )
    linked_id: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime | None = database_now()
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    resolved_by: str | None = Field(default=None, sa_type=sa.Text)
