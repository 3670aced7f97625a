"""Column shapes the services' table models share (SQLModel fields; each call makes a new
column, as a model needs its own)."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def database_now() -> Any:
    """timestamptz NOT NULL DEFAULT now(): None in Python until the database fills it in."""
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
    )


def jsonb_value(value: Any) -> sa.ColumnElement[Any]:
    """A value for a jsonb column, serialised by orjson (dates, UUIDs, non-ASCII text as the
    hub writes them everywhere) rather than by the driver's json.dumps."""
    return sa.cast(sa.literal(orjson.dumps(value).decode(), sa.Text), JSONB)
