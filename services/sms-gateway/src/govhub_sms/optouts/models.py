"""The opt_outs table as a model: what migration 0002 leaves it as."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class OptOut(SQLModel, table=True):
    """One recipient who asked for no more opt-out-able messages, and how they asked."""

    __tablename__ = "opt_outs"
    __table_args__ = {"schema": "sms"}

    recipient: str = Field(primary_key=True, sa_type=sa.Text)
    source: str = Field(sa_type=sa.Text)  # operator (the API) | inbound (a "TD" reply)
    # None until the database fills in now().
    created_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
    )
