"""The templates table as a model: what migrations 0002 and 0007 leave it as."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel


class Template(SQLModel, table=True):
    """One SMS template: its signature, its body with {placeholders} and its category."""

    __tablename__ = "templates"
    __table_args__ = (
        # Named as PostgreSQL named the migration's inline CHECK.
        sa.CheckConstraint(
            "category IN ('notification', 'marketing')", name="templates_category_check"
        ),
        sa.CheckConstraint("source IN ('file', 'api')", name="templates_source"),
        {"schema": "sms"},
    )

    code: str = Field(primary_key=True, sa_type=sa.Text)
    title: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    signature: str = Field(sa_type=sa.Text)
    body: str = Field(sa_type=sa.Text)
    category: str = Field(sa_type=sa.Text)  # notification | marketing
    params: list[str] = Field(sa_type=ARRAY(sa.Text))
    opt_out_allowed: bool
    # Raised by every change through the API; a message keeps the version it was rendered from.
    version: int = Field(default=1, sa_column_kwargs={"server_default": sa.text("1")})
    active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    # None until the database fills in now().
    created_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
    )
    updated_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
    )
    # Who last wrote the template: the startup file or the API (which wins over the file).
    source: str = Field(default="api", sa_type=sa.Text, sa_column_kwargs={"server_default": "api"})
