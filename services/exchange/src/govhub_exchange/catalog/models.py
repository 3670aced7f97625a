"""The catalog as models: the topics, each version of a topic's JSON Schema, and the data
items a topic's records carry (what migration 0002 leaves them as)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "exchange"


class Topic(SQLModel, table=True):
    """A topic agencies publish records to: its owner, how it is shared, its current schema
    version and the last sequence number its log took."""

    __tablename__ = "topics"
    __table_args__ = (
        sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]*$'", name="topics_code_check"),
        sa.CheckConstraint(
            "sharing_type IN ('unconditional', 'conditional', 'not_shared')",
            name="topics_sharing_type_check",
        ),
        # A retention names its legal basis (migration 0014).
        sa.CheckConstraint(
            "(retention_days IS NULL) = (retention_basis IS NULL) AND retention_days > 0",
            name="topics_retention_check",
        ),
        # The catalog's text search (pg_trgm similarity over code, title and description).
        # Expressions are parenthesised as PostgreSQL shows them, for Alembic to compare them.
        sa.Index(
            "topics_title_trgm",
            sa.literal_column("((((code || ' ') || title) || ' ') || description)").label("text"),
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        ),
        sa.Index("topics_owner", "owner", "code"),
        sa.UniqueConstraint("number", name="topics_number_key"),
        {"schema": SCHEMA},
    )

    code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    owner: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.agencies.code", name="topics_owner_fkey"),
            nullable=False,
        )
    )
    title: str = Field(sa_type=sa.Text)
    description: str = Field(
        default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=sa.text("''"))
    )
    # unconditional, conditional (a subscription needs the owner's approval), not_shared
    sharing_type: str = Field(sa_type=sa.Text)
    legal_basis: str | None = Field(default=None, sa_type=sa.Text)
    # How long records stay in the live log, and the law that says so (migration 0014);
    # None: for ever.
    retention_days: int | None = None
    retention_basis: str | None = Field(default=None, sa_type=sa.Text)
    current_version: int = Field(
        default=1,
        sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("1")),
    )
    # The topic's row lock orders publishers; append_batch (migration 0007) advances it.
    head_seq: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
    # The log's segments (migration 0013): how many seqs each new one spans, and where the
    # last one made ends (exclusive; 1 before any). exchange.add_segments advances it.
    segment_records: int = Field(
        default=1_000_000,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("1000000")),
    )
    segment_end: int = Field(
        default=1,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("1")),
    )
    # The first seq still in the live log: segments before it are archived (0014).
    log_start_seq: int = Field(
        default=1,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("1")),
    )
    # A short key for the topic where its code would be repeated for ever: its records'
    # heads (migration 0016).
    number: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.Identity(), nullable=False),
    )
    created_at: datetime | None = database_now()
    updated_at: datetime | None = database_now()


class TopicVersion(SQLModel, table=True):
    """One version of a topic's JSON Schema, which records published under it are checked
    against."""

    __tablename__ = "topic_versions"
    __table_args__ = {"schema": SCHEMA}

    topic_code: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.topics.code", name="topic_versions_topic_code_fkey"),
            primary_key=True,
        )
    )
    version: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    # The column is `schema`, a name pydantic models already use.
    json_schema: dict[str, Any] = Field(sa_column=sa.Column("schema", JSONB, nullable=False))
    created_at: datetime | None = database_now()


class DataItem(SQLModel, table=True):
    """One data item (field) of a topic's records: its type, its sensitivity and since which
    schema version it exists; subscriptions are granted items by name."""

    __tablename__ = "data_items"
    __table_args__ = (
        # The catalog's search of data items by name and title.
        sa.Index(
            "data_items_search_trgm",
            sa.literal_column("((name || ' ') || title)").label("text"),
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        ),
        {"schema": SCHEMA},
    )

    topic_code: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.topics.code", name="data_items_topic_code_fkey"),
            primary_key=True,
        )
    )
    name: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    title: str = Field(sa_type=sa.Text)
    type: str | None = Field(default=None, sa_type=sa.Text)
    format: str | None = Field(default=None, sa_type=sa.Text)
    sensitivity: str = Field(sa_type=sa.Text)
    personal: bool
    required: bool
    since_version: int
