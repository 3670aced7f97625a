"""Column shapes the services' table models share (SQLModel fields; each call makes a new
column, as a model needs its own)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field


def database_now() -> Any:
    """timestamptz NOT NULL DEFAULT now(): None in Python until the database fills it in."""
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
    )
