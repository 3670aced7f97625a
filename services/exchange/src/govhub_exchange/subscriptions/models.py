"""The subscriptions as a model: what migrations 0002, 0004 and 0009 leave the table as."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "exchange"


class Subscription(SQLModel, table=True):
    """An agency's subscription to a topic: the items it is granted, its decision, its feed
    positions and, for a webhook subscriber, the endpoint and its health."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused', 'revoked')",
            name="subscriptions_status_check",
        ),
        sa.CheckConstraint(
            "webhook_status IN ('active', 'paused')", name="subscriptions_webhook_status_check"
        ),
        sa.Index("subscriptions_topic", "topic_code", "status"),
        sa.Index("subscriptions_subscriber", "subscriber", "id"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True),
    )
    topic_code: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.topics.code", name="subscriptions_topic_code_fkey"),
            nullable=False,
        )
    )
    subscriber: str = Field(
        sa_column=sa.Column(
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.agencies.code", name="subscriptions_subscriber_fkey"),
            nullable=False,
        )
    )
    purpose: str = Field(sa_type=sa.Text)
    # The data items granted, by name (catalog's data_items).
    items: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    status: str = Field(sa_type=sa.Text)  # pending, approved, refused, revoked
    reason: str | None = Field(default=None, sa_type=sa.Text)
    requested_at: datetime | None = database_now()
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    decided_by: str | None = Field(default=None, sa_type=sa.Text)
    webhook_url: str | None = Field(default=None, sa_type=sa.Text)
    webhook_secret: str | None = Field(default=None, sa_type=sa.Text)
    # Feed positions: the last seq handed out and the last the subscriber acknowledged.
    delivered_seq: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
    acked_seq: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
    acked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Feed deliveries are audited in the background up to here (migration 0004).
    audited_seq: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
    # The webhook endpoint's health (migration 0009): paused or not, consecutive failures
    # with their backoff, and the position below which every webhook is delivered.
    webhook_status: str = Field(
        default="active",
        sa_column=sa.Column(sa.Text, nullable=False, server_default=sa.text("'active'")),
    )
    webhook_paused_reason: str | None = Field(default=None, sa_type=sa.Text)
    webhook_paused_since: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    webhook_failures: int = Field(
        default=0,
        sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    webhook_failing_since: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    webhook_last_error: str | None = Field(default=None, sa_type=sa.Text)
    webhook_retry_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    webhook_delivered_seq: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
