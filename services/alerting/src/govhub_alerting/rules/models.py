"""The rules, their versions and the known topics as models: what migrations 0002 and 0009
leave them as. (The rule language itself, what a rule's definition says, is rules/language.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "alerting"


class Rule(SQLModel, table=True):
    """A warning rule: which of its versions is current and whether it is enabled."""

    __tablename__ = "rules"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    current_version: int
    enabled: bool = Field(
        default=True,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.text("true")),
    )
    updated_at: datetime | None = database_now()
    updated_by: str = Field(sa_type=sa.Text)


class RuleVersion(SQLModel, table=True):
    """One version of a rule: its definition (rules/language.py) and whether a city file or the
    API wrote it."""

    __tablename__ = "rule_versions"
    __table_args__ = (
        sa.CheckConstraint("source IN ('file', 'api')", name="rule_versions_source_check"),
        {"schema": SCHEMA},
    )

    rule_id: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.rules.id", name="rule_versions_rule_id_fkey"),
            primary_key=True,
        )
    )
    version: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    definition: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    source: str = Field(sa_type=sa.Text)
    created_at: datetime | None = database_now()
    created_by: str = Field(sa_type=sa.Text)


class KnownTopic(SQLModel, table=True):
    """A topic (or a registry subject, named `registry.<subject>`) a rule may read, with the
    fields known to exist in it (rules/catalog.py)."""

    __tablename__ = "known_topics"
    __table_args__ = {"schema": SCHEMA}

    topic: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    fields: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    # The data items the catalog marks personal (x-personal; migration 0009): masked in the
    # evidence shown to agencies (access/evidence.py).
    personal: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )
    # catalog (an exchange catalog event named the topic) or seen (only records showed it);
    # the shipped topics (known_topics.yaml) are read from the file, not stored.
    source: str = Field(sa_type=sa.Text)
    updated_at: datetime | None = database_now()
