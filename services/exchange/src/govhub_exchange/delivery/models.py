"""The webhook deliveries as a model: what migrations 0002 and 0009 leave the table as."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "exchange"


class WebhookDelivery(SQLModel, table=True):
    """One record to post to one webhook subscriber: its attempts, its lease while a replica
    posts it, and its outcome."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name="webhook_deliveries_status_check"
        ),
        sa.Index(
            "webhook_deliveries_dead",
            "subscription_id",
            postgresql_where=sa.text("status = 'dead'"),
        ),
        # The claim walks each subscription's undelivered deliveries in seq order.
        sa.Index(
            "webhook_deliveries_undelivered",
            "subscription_id",
            "seq",
            postgresql_where=sa.text("status IN ('pending', 'dead')"),
        ),
        # The deliveries in flight, for the per-subscription concurrency limit.
        sa.Index(
            "webhook_deliveries_leased",
            "subscription_id",
            postgresql_where=sa.text("leased_until IS NOT NULL"),
        ),
        {"schema": SCHEMA},
    )

    subscription_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey(
                f"{SCHEMA}.subscriptions.id", name="webhook_deliveries_subscription_id_fkey"
            ),
            primary_key=True,
        )
    )
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    # The id the subscriber sees, to recognise a repeated post: msg_<subscription>_<seq>.
    webhook_id: str = Field(sa_type=sa.Text)
    status: str = Field(
        default="pending",
        sa_column=sa.Column(sa.Text, nullable=False, server_default=sa.text("'pending'")),
    )
    attempts: int = Field(
        default=0,
        sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    next_attempt_at: datetime | None = database_now()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    # The HTTP status of the last attempt.
    last_status: int | None = None
    created_at: datetime | None = database_now()
    delivered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Set while a replica posts the delivery, cleared when the outcome is recorded.
    leased_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
