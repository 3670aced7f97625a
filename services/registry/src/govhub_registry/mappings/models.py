"""The topic mappings as versioned rows, and the registry's copy of the exchange catalog they
are checked against (migration 0011)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "registry"


class TopicMapping(SQLModel, table=True):
    """A topic's mapping: its current version, and whether the file or the API last set it
    (the file never overwrites what the API changed)."""

    __tablename__ = "topic_mapping"
    __table_args__ = (
        sa.CheckConstraint("source IN ('file', 'api')", name="topic_mapping_source_check"),
        {"schema": SCHEMA},
    )

    topic: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    current_version: int
    source: str = Field(sa_type=sa.Text)
    updated_at: datetime | None = database_now()
    updated_by: str = Field(sa_type=sa.Text)


class TopicMappingVersion(SQLModel, table=True):
    """One version of a topic's mapping; a NULL definition records the mapping's removal."""

    __tablename__ = "topic_mapping_version"
    __table_args__ = (
        sa.CheckConstraint("source IN ('file', 'api')", name="topic_mapping_version_source_check"),
        {"schema": SCHEMA},
    )

    topic: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.topic_mapping.topic", name="topic_mapping_version_topic_fkey"),
            primary_key=True,
        )
    )
    version: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    definition: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB))
    source: str = Field(sa_type=sa.Text)
    created_at: datetime | None = database_now()
    created_by: str = Field(sa_type=sa.Text)


class CatalogTopic(SQLModel, table=True):
    """A topic of the exchange's catalog as its events carried it: every data item it has
    had, at its current version (the higher version wins)."""

    __tablename__ = "catalog_topic"
    __table_args__ = {"schema": SCHEMA}

    topic: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    current_version: int
    items: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    learned_at: datetime | None = database_now()
