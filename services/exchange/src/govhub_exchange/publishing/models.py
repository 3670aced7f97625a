"""The exchange log, its segments, heads and blocks, the quarantine and the publish batches
as models: what migrations 0006, 0007, 0013, 0015 and 0016 leave them as. All but the
blocks are written by exchange.append_batch (publishing/append_batch.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "exchange"


class PublishedRecord(SQLModel, table=True):
    """One version of a record in a topic's log, at its sequence number. Partitioned by
    range of (topic, seq): each partition is a segment of one topic (LogSegment)."""

    __tablename__ = "records"
    __table_args__ = ({"schema": SCHEMA, "postgresql_partition_by": "RANGE (topic_code, seq)"},)

    # No foreign key to topics (as migrated).
    topic_code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    record_id: str = Field(sa_type=sa.Text)
    version: int
    # The topic's schema version the record was checked against.
    topic_version: int
    business_time: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    published_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    publisher: str = Field(sa_type=sa.Text)
    # The record's JSON but for its seq and data is rebuilt from the columns above
    # (exchange.record_envelope), not stored.
    data: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))


class RecordHead(SQLModel, table=True):
    """A record's newest version: what a publish is judged against (a duplicate repeats its
    content hash; a change takes the next version), and where its versions lie."""

    __tablename__ = "record_heads"
    __table_args__ = ({"schema": SCHEMA},)

    # The topic's number (Topic.number), not its code: heads are kept for ever, and the
    # code's 20 to 30 bytes in the row and the key were most of a small record's cost on disk
    # (migration 0016). Fixed-width columns first, so that none is padded.
    topic_number: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    version: int
    # The seqs of its newest and first versions; first_seq is NULL while they are one.
    seq: int = Field(sa_type=sa.BigInteger)
    first_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    record_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    # SHA-256's first 16 bytes (publishing/parsing.py).
    content_hash: bytes = Field(sa_type=sa.LargeBinary)


class RecordBlock(SQLModel, table=True):
    """Up to 1,000 consecutive records of one segment, moved out of their rows once old
    (migration 0015, archive/blocks.py): each column an array, record i at seq
    first_seq + i - 1, the row compressed by PostgreSQL. Read through exchange.log_page,
    exchange.log_range and the view exchange.log, never alone."""

    __tablename__ = "record_blocks"
    __table_args__ = (
        sa.CheckConstraint(
            "last_seq - first_seq < 1000 "
            "AND cardinality(record_ids) = last_seq - first_seq + 1 "
            "AND cardinality(data) = last_seq - first_seq + 1",
            name="record_blocks_dense",
        ),
        {"schema": SCHEMA},
    )

    topic_code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    last_seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    first_seq: int = Field(sa_type=sa.BigInteger)
    record_ids: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    versions: list[int] = Field(sa_column=sa.Column(ARRAY(sa.Integer), nullable=False))
    topic_versions: list[int] = Field(sa_column=sa.Column(ARRAY(sa.Integer), nullable=False))
    business_times: list[datetime | None] = Field(
        sa_column=sa.Column(ARRAY(sa.DateTime(timezone=True)), nullable=False)
    )
    published_ats: list[datetime] = Field(
        sa_column=sa.Column(ARRAY(sa.DateTime(timezone=True)), nullable=False)
    )
    publishers: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    data: list[dict[str, Any]] = Field(sa_column=sa.Column(ARRAY(JSONB), nullable=False))


class LogSegment(SQLModel, table=True):
    """One partition of the log: a topic's seqs from first_seq up to end_seq (exclusive),
    stored in the table exchange.records_<id>."""

    __tablename__ = "log_segments"
    __table_args__ = (
        sa.UniqueConstraint(
            "topic_code", "first_seq", name="log_segments_topic_code_first_seq_key"
        ),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    topic_code: str = Field(sa_type=sa.Text)
    first_seq: int = Field(sa_type=sa.BigInteger)
    end_seq: int = Field(sa_type=sa.BigInteger)
    created_at: datetime | None = database_now()
    # Set when it is archived (migration 0014, archive/): what it held, and its file.
    records: int | None = Field(default=None, sa_type=sa.BigInteger)
    first_published_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_published_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # None while its records are in the live log (never archived, or imported again).
    archived_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    archive_file: str | None = Field(default=None, sa_type=sa.Text)
    archive_sha256: str | None = Field(default=None, sa_type=sa.Text)
    # An imported segment stays live until then, whatever its topic's retention.
    kept_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class QuarantinedRecord(SQLModel, table=True):
    """A record a publish request carried that was rejected, with its payload as received and
    why it was rejected."""

    __tablename__ = "quarantine"
    __table_args__ = (
        sa.Index("quarantine_topic", "topic_code", "id"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    # No foreign key to topics (as migrated).
    topic_code: str = Field(sa_type=sa.Text)
    publisher: str = Field(sa_type=sa.Text)
    batch_id: str = Field(sa_column=sa.Column(UUID(as_uuid=False), nullable=False))
    # The record's place in the request, and its line for NDJSON.
    index: int
    line: int | None = None
    record_id: str | None = Field(default=None, sa_type=sa.Text)
    payload: str = Field(sa_type=sa.Text)
    errors: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))
    received_at: datetime | None = database_now()


class PublishBatch(SQLModel, table=True):
    """One publish request: its counts and the sequence range it took, audited from here in
    the background."""

    __tablename__ = "publish_batches"
    __table_args__ = (
        # The name PostgreSQL gave the migration's unnamed UNIQUE constraint.
        sa.UniqueConstraint("batch_id", name="publish_batches_batch_id_key"),
        # The batches the audit log has still to take in.
        sa.Index("publish_batches_unaudited", "id", postgresql_where=sa.text("NOT audited")),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    batch_id: str = Field(sa_column=sa.Column(UUID(as_uuid=False), nullable=False))
    topic_code: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.topics.code", name="publish_batches_topic_code_fkey"),
            nullable=False,
        )
    )
    publisher: str = Field(sa_type=sa.Text)
    accepted: int
    duplicates: int
    rejected: int
    # None when the request appended nothing.
    first_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    received_at: datetime | None = database_now()
    audited: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
