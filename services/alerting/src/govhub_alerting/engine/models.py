"""The engine's tables as models: the records alerting received, the facts rules read them
as, the timers of absence rules, the registry's contacts, and the reminders emitted with
their delivery status, as migrations 0002 to 0009 leave them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "alerting"


class Record(SQLModel, table=True):
    """An exchange record as alerting received it, kept so a new rule can read the past
    (engine/history.py)."""

    __tablename__ = "records"
    __table_args__ = (
        # Rows arrive in received_at order: a BRIN index finds the expired ones cheaply.
        sa.Index("records_received", "received_at", postgresql_using="brin"),
        {"schema": SCHEMA},
    )

    topic: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    publisher: str = Field(sa_type=sa.Text)
    data: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    received_at: datetime | None = database_now()


class Fact(SQLModel, table=True):
    """A record as one view (topic:key:date) some rule reads it through: its subject and
    business date."""

    __tablename__ = "facts"
    __table_args__ = (
        # Named as PostgreSQL named the migration's unnamed UNIQUE constraint.
        sa.UniqueConstraint("view", "seq", name="facts_view_seq_key"),
        sa.Index("facts_by_subject", "view", "subject", "business_date"),
        # A topic's facts by seq: those of records archived are forgotten (0010).
        sa.Index("facts_by_record", "topic", "seq"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    view: str = Field(sa_type=sa.Text)
    topic: str = Field(sa_type=sa.Text)
    seq: int = Field(sa_type=sa.BigInteger)
    subject: str = Field(sa_type=sa.Text)
    business_date: date
    publisher: str = Field(sa_type=sa.Text)
    data: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    received_at: datetime | None = database_now()


class FactView(SQLModel, table=True):
    """A view whose facts have been derived from the stored records: with which fields and
    up to when, so the next derivation reads only the records received since."""

    __tablename__ = "fact_views"
    __table_args__ = {"schema": SCHEMA}

    view: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    fields: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    # None: nothing derived yet.
    derived_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Timer(SQLModel, table=True):
    """A reminder or deadline an absence rule set for a subject from a trigger fact, and
    how it ended (fired with an outcome, or cancelled by the awaited record)."""

    __tablename__ = "timers"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('reminder', 'deadline')", name="timers_kind_check"),
        # A trigger record sets each of a rule's timers once (the fact is view + seq). Named
        # as PostgreSQL named the migration's unnamed UNIQUE constraint.
        sa.UniqueConstraint(
            "trigger_fact_id",
            "rule_id",
            "kind",
            "due_at",
            name="timers_trigger_fact_id_rule_id_kind_due_at_key",
        ),
        # What the sweep fires next.
        sa.Index(
            "timers_due",
            "due_at",
            "id",
            postgresql_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"),
        ),
        # The pending timers an awaited record cancels.
        sa.Index(
            "timers_pending_by_subject",
            "rule_id",
            "subject",
            postgresql_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"),
        ),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    rule_id: str = Field(sa_type=sa.Text)
    rule_version: int
    subject: str = Field(sa_type=sa.Text)
    kind: str = Field(sa_type=sa.Text)
    # A fact's id (alerting.facts), without a foreign key as migrated.
    trigger_fact_id: int = Field(sa_type=sa.BigInteger)
    trigger_date: date
    deadline_date: date
    due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # The views whose fact for the subject meets the rule.
    awaited_views: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    # A reminder's template, parameters and where its recipient comes from (sent_to added
    # when it fires); None for a deadline.
    reminder: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB))
    created_at: datetime | None = database_now()
    fired_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # The simulated or real time the sweep fired it as of (fired_at is the wall clock).
    fired_as_of: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # complied_on_time, raised, already_open, silenced (deadlines); sent, skipped,
    # no_recipient, silenced (reminders).
    outcome: str | None = Field(default=None, sa_type=sa.Text)


class RegistryContact(SQLModel, table=True):
    """A subject's contact attribute (its mobile) as the registry's change events last gave
    it (engine/contacts.py)."""

    __tablename__ = "registry_contacts"
    __table_args__ = (
        sa.CheckConstraint(
            "registry IN ('legal_entity', 'person')", name="registry_contacts_registry_check"
        ),
        {"schema": SCHEMA},
    )

    # The column `registry`, under another attribute name: SQLAlchemy keeps `registry` for
    # the declarative class registry.
    registry_name: str = Field(sa_column=sa.Column("registry", sa.Text, primary_key=True))
    subject: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    attribute: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    # None: the registry cleared it.
    value: str | None = Field(default=None, sa_type=sa.Text)
    changed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    source_agency: str | None = Field(default=None, sa_type=sa.Text)
    updated_at: datetime | None = database_now()


class Reminder(SQLModel, table=True):
    """A reminder emitted as `alerting.reminder.due` (written by the sweep in the
    transaction that fires its timer): what a warning shows of the reminders sent before it."""

    __tablename__ = "reminders"
    __table_args__ = (
        sa.Index("reminders_by_subject", "rule_id", "subject", "trigger_date"),
        {"schema": SCHEMA},
    )

    # rule:subject:trigger date:after (rules/kinds/absence.py), the SMS message's key.
    idempotency_key: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    rule_id: str = Field(sa_type=sa.Text)
    subject: str = Field(sa_type=sa.Text)
    trigger_date: date
    template: str = Field(sa_type=sa.Text)
    # The mobile it went to, as the event carried it; the API shows it masked.
    recipient: str = Field(sa_type=sa.Text)
    due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # The (simulated or real) time the sweep emitted it as of.
    emitted_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class ReminderDelivery(SQLModel, table=True):
    """The latest status the SMS gateway reported for a reminder's message
    (`sms.message.status_changed`, engine/deliveries.py)."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = {"schema": SCHEMA}

    idempotency_key: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    message_id: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    changed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime | None = database_now()
