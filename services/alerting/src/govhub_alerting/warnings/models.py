"""The warnings (cases), their history and the silences as models: what migrations 0002 and
0008 leave them as."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "alerting"


# Not `Warning`: that is a Python builtin.
class WarningCase(SQLModel, table=True):
    """A warning a rule raised about a subject, handled as a case by the assigned agency
    until it is resolved."""

    __tablename__ = "warnings"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'resolved')", name="warnings_status_check"
        ),
        sa.CheckConstraint(
            "resolution IN ('complied_late', 'exempt', 'false_positive', 'penalised', 'other')",
            name="warnings_resolution_check",
        ),
        # A rule has at most one unresolved warning per subject.
        sa.Index(
            "warnings_one_open_per_subject",
            "rule_id",
            "subject",
            unique=True,
            postgresql_where=sa.text("status <> 'resolved'"),
        ),
        sa.Index("warnings_by_agency", "assigned_agency", "id"),
        sa.Index("warnings_by_rule", "rule_id", "trigger_date"),
        # text_pattern_ops serves both `subject = :s` and the prefix `subject LIKE 'key/%'`.
        sa.Index(
            "warnings_by_subject",
            "subject",
            "id",
            postgresql_ops={"subject": "text_pattern_ops"},
        ),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    rule_id: str = Field(sa_type=sa.Text)
    rule_version: int
    # The rule's kind: absence, contradiction or duplicate.
    kind: str = Field(sa_type=sa.Text)
    title: str = Field(sa_type=sa.Text)
    severity: str = Field(sa_type=sa.Text)
    subject: str = Field(sa_type=sa.Text)
    assigned_agency: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    resolution: str | None = Field(default=None, sa_type=sa.Text)
    note: str | None = Field(default=None, sa_type=sa.Text)
    trigger_date: date
    due_date: date | None = None
    raised_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime | None = database_now()
    # The deadline timer that raised it (absence rules), without a foreign key as migrated.
    timer_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    # The records it is raised on, one object per fact (warnings/schemas.py, Evidence).
    evidence: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))


class WarningStatusChange(SQLModel, table=True):
    """One status a warning went through, with its resolution, note and who changed it."""

    __tablename__ = "warning_history"
    __table_args__ = (
        sa.Index("warning_history_by_warning", "warning_id", "id"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    warning_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey(f"{SCHEMA}.warnings.id", name="warning_history_warning_id_fkey"),
            nullable=False,
        )
    )
    # None for the warning's first status.
    from_status: str | None = Field(default=None, sa_type=sa.Text)
    to_status: str = Field(sa_type=sa.Text)
    resolution: str | None = Field(default=None, sa_type=sa.Text)
    note: str | None = Field(default=None, sa_type=sa.Text)
    actor: str = Field(sa_type=sa.Text)
    at: datetime | None = database_now()


class Silence(SQLModel, table=True):
    """A rule kept quiet about one subject until a date, and why."""

    __tablename__ = "silences"
    __table_args__ = (
        sa.Index("silences_by_subject", "rule_id", "subject", "until"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    rule_id: str = Field(sa_type=sa.Text)
    subject: str = Field(sa_type=sa.Text)
    until: date
    reason: str = Field(sa_type=sa.Text)
    created_by: str = Field(sa_type=sa.Text)
    created_at: datetime | None = database_now()
