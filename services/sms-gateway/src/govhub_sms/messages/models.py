"""The messages, message_history and delivery_reports tables as models: what migrations 0002
and 0005 leave them as."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel


class Message(SQLModel, table=True):
    """One SMS accepted for a recipient: its rendered text, its status and its sending state."""

    __tablename__ = "messages"
    __table_args__ = (
        # Names as PostgreSQL gave the migration's unnamed UNIQUE constraints.
        sa.UniqueConstraint("seq", name="messages_seq_key"),
        sa.UniqueConstraint(
            "agency", "idempotency_key", name="messages_agency_idempotency_key_key"
        ),
        # What the sender claims next.
        sa.Index(
            "messages_due",
            "next_attempt_at",
            postgresql_where=sa.text("status IN ('queued', 'deferred')"),
        ),
        # The daily cap per recipient.
        sa.Index(
            "messages_recipient_day",
            "recipient",
            "sent_on",
            postgresql_where=sa.text("sent_on IS NOT NULL"),
        ),
        # A delivery report finds its message by the provider's id.
        sa.Index(
            "messages_provider_id",
            "provider",
            "provider_message_id",
            postgresql_where=sa.text("provider_message_id IS NOT NULL"),
        ),
        sa.Index("messages_agency_seq", "agency", "seq"),
        sa.Index("messages_status_seq", "status", "seq"),
        # Recovery looks for expired leases among the few rows in `sending`.
        sa.Index(
            "messages_claim_lease", "lease_until", postgresql_where=sa.text("status = 'sending'")
        ),
        # A receipt that names no known message id is matched by provider and handset.
        sa.Index(
            "messages_ambiguous",
            "provider",
            "recipient",
            postgresql_where=sa.text("status = 'ambiguous'"),
        ),
        {"schema": "sms"},
    )

    # The order messages are listed in; the database numbers them.
    seq: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), nullable=False),
    )
    id: str = Field(sa_column=sa.Column(UUID(as_uuid=False), primary_key=True))
    agency: str = Field(sa_type=sa.Text)
    idempotency_key: str = Field(sa_type=sa.Text)
    # A repeat of the key with another request is a conflict, not the same message.
    request_hash: str = Field(sa_type=sa.Text)
    recipient: str = Field(sa_type=sa.Text)
    template_code: str = Field(sa_type=sa.Text)
    template_version: int
    category: str = Field(sa_type=sa.Text)
    opt_out_applies: bool
    params: dict[str, Any] = Field(sa_type=JSONB)
    text: str = Field(sa_type=sa.Text)
    encoding: str = Field(sa_type=sa.Text)
    segments: int
    # queued, deferred, sending (claimed by a sender), sent, delivered, failed, expired,
    # ambiguous (handed to the provider, its acceptance never recorded)
    status: str = Field(sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    not_before: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    next_attempt_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    # Which of the configured providers the next attempt goes to.
    provider_index: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    provider: str | None = Field(default=None, sa_type=sa.Text)
    provider_message_id: str | None = Field(default=None, sa_type=sa.Text)
    parts: int | None = None
    # The business day it was sent on, for the daily cap.
    sent_on: date | None = None
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    submitted_wall_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    claimed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # The claim lease and the submit journal (sending/claims.py): who claimed the message and
    # until when, when it was handed to the provider and when the carrier acknowledged it.
    claimed_by: str | None = Field(default=None, sa_type=sa.Text)
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    handed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    acked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class MessageStatusChange(SQLModel, table=True):
    """One status a message went through, with why and through which provider."""

    __tablename__ = "message_history"
    __table_args__ = (
        sa.Index("message_history_message", "message_id", "id"),
        {"schema": "sms"},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    message_id: str = Field(
        sa_column=sa.Column(
            UUID(as_uuid=False),
            sa.ForeignKey("sms.messages.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    status: str = Field(sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    provider: str | None = Field(default=None, sa_type=sa.Text)
    changed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class DeliveryReport(SQLModel, table=True):
    """One delivery receipt from a provider, stored first and applied to its message later."""

    __tablename__ = "delivery_reports"
    __table_args__ = (
        # The reports still to apply.
        sa.Index("delivery_reports_pending", "id", postgresql_where=sa.text("applied_at IS NULL")),
        {"schema": "sms"},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    provider: str = Field(sa_type=sa.Text)
    provider_message_id: str = Field(sa_type=sa.Text)
    # govhub's id as the provider echoes it; no foreign key (as migrated): it comes from
    # outside and may name no message.
    message_id: str | None = Field(default=None, sa_column=sa.Column(UUID(as_uuid=False)))
    status: str = Field(sa_type=sa.Text)
    error_code: str | None = Field(default=None, sa_type=sa.Text)
    done_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # None until the database fills in now().
    received_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
    )
    applied_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    outcome: str | None = Field(
        default=None, sa_type=sa.Text
    )  # applied, reconciled, ignored, unmatched
    # The handset the receipt names, to match an ambiguous message by.
    recipient: str | None = Field(default=None, sa_type=sa.Text)
