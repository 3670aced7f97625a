"""The access log: who read which fields of whom, and why (migrations 0002 and 0010)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "registry"


class AccessLog(SQLModel, table=True):
    """One read of a subject's data: the agency (and client), the fields, the purpose and
    the action, and the legal entity it was read through, if any."""

    __tablename__ = "access_log"
    __table_args__ = (
        # A subject's reads in time order (a resident asking who looked at their data).
        sa.Index("access_log_subject", "subject_kind", "subject_id", "accessed_at"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    accessed_at: datetime | None = database_now()
    agency: str = Field(sa_type=sa.Text)
    client_id: str | None = Field(default=None, sa_type=sa.Text)
    subject_kind: str = Field(sa_type=sa.Text)
    subject_id: str = Field(sa_type=sa.Text)
    fields: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    purpose: str = Field(sa_type=sa.Text)
    action: str = Field(sa_type=sa.Text)
    # A legal representative's data shown with their legal entity (migration 0010).
    via_legal_entity: str | None = Field(default=None, sa_type=sa.Text)
