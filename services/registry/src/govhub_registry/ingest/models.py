"""The tables ingest writes: the golden records (legal_entity, person), the assertions they
are built from, the registrations agencies hold on them, and the records no mapping could
place (migrations 0002, 0003, 0004, 0005 and 0007)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "registry"


class LegalEntity(SQLModel, table=True):
    """A legal entity's golden record: its current attributes and every agency's claims."""

    __tablename__ = "legal_entity"
    __table_args__ = (
        # Name search (similarity) and matching a USCC that fails only its check character.
        sa.Index(
            "legal_entity_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        sa.Index("legal_entity_uscc_body", sa.text("left(uscc, 17)")),
        {"schema": SCHEMA},
    )

    uscc: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    # Text, not jsonb: read and written whole by Python, never queried (migration 0004).
    claims: str = Field(
        default="{}", sa_column=sa.Column(sa.Text, nullable=False, server_default="{}")
    )
    name: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.Text, sa.Computed("attributes ->> 'name'", persisted=True)),
    )
    created_at: datetime | None = database_now()
    updated_at: datetime | None = database_now()


class Person(SQLModel, table=True):
    """A person's golden record: their current attributes and every agency's claims."""

    __tablename__ = "person"
    __table_args__ = (
        # Name search (similarity), birth date search, and matching an ID number that fails
        # only its check character.
        sa.Index(
            "person_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        sa.Index("person_birth_date", "birth_date"),
        sa.Index("person_id_body", sa.text("left(id_number, 17)")),
        {"schema": SCHEMA},
    )

    id_number: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    # Text, not jsonb: read and written whole by Python, never queried (migration 0004).
    claims: str = Field(
        default="{}", sa_column=sa.Column(sa.Text, nullable=False, server_default="{}")
    )
    name: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.Text, sa.Computed("attributes ->> 'name'", persisted=True)),
    )
    birth_date: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.Text, sa.Computed("attributes ->> 'birth_date'", persisted=True)),
    )
    created_at: datetime | None = database_now()
    updated_at: datetime | None = database_now()


class Assertion(SQLModel, table=True):
    """What one source record stated about a subject: its attributes with their ranks, valid
    from a date and recorded at a time."""

    __tablename__ = "assertion"
    __table_args__ = (
        # Sequence numbers are per topic: the topic is part of a record's identity (0007).
        sa.UniqueConstraint(
            "subject_kind",
            "subject_id",
            "source_agency",
            "source_topic",
            "seq",
            name="assertion_source_record_key",
        ),
        # A topic's assertions by seq: those of records archived are forgotten (0013).
        sa.Index("assertion_by_record", "source_topic", "seq"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    subject_kind: str = Field(sa_type=sa.Text)
    subject_id: str = Field(sa_type=sa.Text)
    source_agency: str = Field(sa_type=sa.Text)
    source_topic: str = Field(sa_type=sa.Text)
    seq: int = Field(sa_type=sa.BigInteger)
    valid_from: date
    recorded_at: datetime | None = database_now()
    # json, not jsonb: the record's text as stated, written once and never queried (0005).
    attributes: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    ranks: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))


class Registration(SQLModel, table=True):
    """One registration an agency holds on a subject (a licence, a tax registration, ...), as
    its latest record left it."""

    __tablename__ = "registration"
    __table_args__ = {"schema": SCHEMA}

    subject_kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    subject_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    agency: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    reference: str | None = Field(default=None, sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    start_date: date | None = None
    end_date: date | None = None
    last_date: date | None = None
    details: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    source_topic: str = Field(sa_type=sa.Text)
    source_seq: int = Field(sa_type=sa.BigInteger)
    updated_at: datetime | None = database_now()


class UnmappedRecord(SQLModel, table=True):
    """A topic's record that no mapping or match could place, with the reason why."""

    __tablename__ = "unmapped_record"
    __table_args__ = (
        sa.UniqueConstraint("topic", "seq", name="unmapped_record_topic_seq_key"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    topic: str = Field(sa_type=sa.Text)
    seq: int = Field(sa_type=sa.BigInteger)
    publisher: str = Field(sa_type=sa.Text)
    # Any JSON value: a record that is not even an object is kept too.
    data: Any = Field(sa_column=sa.Column(JSONB, nullable=False))
    reason: str = Field(sa_type=sa.Text)
    received_at: datetime | None = database_now()
