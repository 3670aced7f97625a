"""The agencies and their API clients as models: what migrations 0002 and 0011 leave them
as."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "exchange"


class Agency(SQLModel, table=True):
    """A government agency taking part in the exchange: a publisher, a subscriber or both."""

    __tablename__ = "agencies"
    __table_args__ = (
        sa.CheckConstraint("code ~ '^[a-z][a-z0-9-]*$'", name="agencies_code_check"),
        {"schema": SCHEMA},
    )

    code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    name: str = Field(sa_type=sa.Text)
    contact: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    disabled: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    created_at: datetime | None = database_now()
    # Carried in the agency's tokens; bumping it revokes them all (govhub_common.revocation).
    token_generation: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )


class Client(SQLModel, table=True):
    """An API client of an agency: its hashed secret and the scopes its tokens may carry."""

    __tablename__ = "clients"
    __table_args__ = {"schema": SCHEMA}

    client_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    agency_code: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.agencies.code", name="clients_agency_code_fkey"),
            nullable=False,
        )
    )
    secret_hash: str = Field(sa_type=sa.Text)
    scopes: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    disabled: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    created_at: datetime | None = database_now()
    rotated_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Carried in the client's tokens; bumping it revokes them all (govhub_common.revocation).
    token_generation: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
