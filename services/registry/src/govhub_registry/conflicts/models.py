"""The conflicts table: attributes on which agencies disagree (migrations 0002 and 0012)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "registry"


class Conflict(SQLModel, table=True):
    """One attribute of a subject whose agencies' current values differ: open until they
    agree again (resolved) or an operator settles it (settled)."""

    __tablename__ = "conflict"
    __table_args__ = (
        # At most one open conflict per attribute: ingest upserts on it (ON CONFLICT ...
        # WHERE status = 'open').
        sa.Index(
            "conflict_one_open",
            "subject_kind",
            "subject_id",
            "attribute",
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
        ),
        sa.Index("conflict_subject", "subject_kind", "subject_id"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    subject_kind: str = Field(sa_type=sa.Text)
    subject_id: str = Field(sa_type=sa.Text)
    attribute: str = Field(sa_type=sa.Text)
    # Each agency's claim of the attribute ({agency, value, seq, valid_from, rank}: the rank
    # names the authority and the dissenters); the fingerprint tells when the claims change.
    claims: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))
    fingerprint: str = Field(sa_type=sa.Text)
    status: str = Field(
        default="open",
        sa_column=sa.Column(sa.Text, nullable=False, server_default="open"),
    )
    # Times on the business clock (ctx.clock.stamp: the replayed time in simulation).
    detected_at: datetime | None = database_now()
    updated_at: datetime | None = database_now()
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    settled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    settled_by: str | None = Field(default=None, sa_type=sa.Text)
    note: str | None = Field(default=None, sa_type=sa.Text)
