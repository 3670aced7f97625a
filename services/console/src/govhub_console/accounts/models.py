"""Local accounts (本地账号): people an operator registered with a password, for development
and small deployments (migration 0001)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "console"


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('case_officer', 'data_steward', 'operator')", name="accounts_role_check"
        ),
        {"schema": SCHEMA},
    )

    username: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    agency: str = Field(sa_type=sa.Text)
    role: str = Field(sa_type=sa.Text)
    display_name: str = Field(sa_type=sa.Text)
    # argon2id, PHC string form (parameters and salt inside).
    password_hash: str = Field(sa_type=sa.Text)
    # Failures in a row since the last success or lockout.
    failed_attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    locked_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    disabled: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default="false")
    )
    created_at: datetime | None = database_now()
