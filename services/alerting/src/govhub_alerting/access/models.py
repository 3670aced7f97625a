"""The agencies' grants as alerting learns them from the exchange's subscription events: what
migration 0009 leaves the table as."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "alerting"


class Grant(SQLModel, table=True):
    """An agency's subscription to a topic as the exchange last announced it: while approved,
    the data items it grants the agency (access/evidence.py)."""

    __tablename__ = "grants"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('approved', 'refused', 'revoked')", name="grants_status_check"
        ),
        sa.Index(
            "grants_by_subscriber",
            "subscriber",
            "topic",
            postgresql_where=sa.text("status = 'approved'"),
        ),
        {"schema": SCHEMA},
    )

    # The exchange's subscription id.
    subscription_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    topic: str = Field(sa_type=sa.Text)
    subscriber: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    items: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    decided_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime | None = database_now()
