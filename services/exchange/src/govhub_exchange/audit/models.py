"""The audit log and its signed checkpoints as models: what migrations 0002 and 0010 leave
them as. Both are append-only: triggers of migration 0002 refuse UPDATE, DELETE and TRUNCATE
(triggers and their function are not modelled)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SCHEMA = "exchange"


class AuditEntry(SQLModel, table=True):
    """One entry of the hash-chained audit log: who did what, and the hash linking it to the
    entry before."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # Version 1 hashes the columns read back; version 2 hashes the stored canonical form.
        sa.CheckConstraint(
            "(hash_version = 1 AND canonical IS NULL)"
            " OR (hash_version = 2 AND canonical IS NOT NULL)",
            name="audit_log_hash_version",
        ),
        sa.Index("audit_log_at", "at"),
        sa.Index("audit_log_agency", "agency", "id"),
        sa.Index("audit_log_topic", "topic", "id"),
        {"schema": SCHEMA},
    )

    # The chain's position, numbered by the service (no identity, as migrated).
    id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    actor: str = Field(sa_type=sa.Text)
    action: str = Field(sa_type=sa.Text)
    agency: str | None = Field(default=None, sa_type=sa.Text)
    topic: str | None = Field(default=None, sa_type=sa.Text)
    details: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    prev_hash: str = Field(sa_type=sa.Text)
    hash: str = Field(sa_type=sa.Text)
    hash_version: int = Field(
        default=1,
        sa_column=sa.Column(sa.SmallInteger, nullable=False, server_default=sa.text("1")),
    )
    # The entry's RFC 8785 (JCS) canonical form, the exact text hashed (hash_version 2).
    canonical: str | None = Field(default=None, sa_type=sa.Text)


class AuditCheckpoint(SQLModel, table=True):
    """A signature over the audit chain's head at one entry, by one of the hub's keys."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = {"schema": SCHEMA}

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    # The audit entry signed; no foreign key (as migrated).
    entry_id: int = Field(sa_type=sa.BigInteger)
    hash: str = Field(sa_type=sa.Text)
    signed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    kid: str = Field(sa_type=sa.Text)
    signature: str = Field(sa_type=sa.Text)
