"""The data-quality figures as models: what migration 0012 builds (docs/quality.md).

The day tables are written by exchange.append_batch (publishing/append_batch.sql) with each
publish batch; the fact tables by the consumers of the registry's and alerting's events;
quality_webhook_days by the webhook recorder."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from govhub_common.model_fields import database_now

SCHEMA = "exchange"


def _count() -> int:
    return Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("0"))
    )


class QualityDay(SQLModel, table=True):
    """One day of arrivals (Asia/Shanghai) of one topic from one publisher."""

    __tablename__ = "quality_days"
    __table_args__ = {"schema": SCHEMA}

    day: date = Field(primary_key=True)
    topic_code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    publisher: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    # Records in publish requests: accepted + duplicates + rejected.
    received: int = _count()
    # Appended to the log: first versions and new versions.
    accepted: int = _count()
    new_versions: int = _count()
    duplicates: int = _count()
    rejected: int = _count()
    # Accepted without a business time, and accepted on their business date.
    undated: int = _count()
    same_day: int = _count()


class QualityDelay(SQLModel, table=True):
    """Accepted records of a day by delay bucket (business time to arrival, seconds)."""

    __tablename__ = "quality_delays"
    __table_args__ = {"schema": SCHEMA}

    day: date = Field(primary_key=True)
    topic_code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    publisher: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    bucket: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    records: int


class QualityFilled(SQLModel, table=True):
    """Accepted records of a day that fill a data item."""

    __tablename__ = "quality_filled"
    __table_args__ = {"schema": SCHEMA}

    day: date = Field(primary_key=True)
    topic_code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    publisher: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    item: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    records: int


class QualityFault(SQLModel, table=True):
    """Rejected records of a day with a fault on a data item under a rule."""

    __tablename__ = "quality_faults"
    __table_args__ = {"schema": SCHEMA}

    day: date = Field(primary_key=True)
    topic_code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    publisher: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    item: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    rule: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    records: int


class QualityWebhookDay(SQLModel, table=True):
    """Webhook posts of a day to one subscriber for one topic, and how many failed."""

    __tablename__ = "quality_webhook_days"
    __table_args__ = {"schema": SCHEMA}

    day: date = Field(primary_key=True)
    subscriber: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    topic_code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    attempts: int = _count()
    failures: int = _count()
    dead: int = _count()


class QualityConflict(SQLModel, table=True):
    """A registry conflict as its events announce it, once per dissenting agency."""

    __tablename__ = "quality_conflicts"
    __table_args__ = (
        sa.Index("quality_conflicts_detected", "detected_at"),
        {"schema": SCHEMA},
    )

    conflict_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    agency: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    topic_code: str | None = Field(default=None, sa_type=sa.Text)
    attribute: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    detected_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class QualityWarning(SQLModel, table=True):
    """A warning as alerting's events announce it."""

    __tablename__ = "quality_warnings"
    __table_args__ = (
        sa.Index("quality_warnings_raised", "raised_at"),
        {"schema": SCHEMA},
    )

    warning_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    agency: str = Field(sa_type=sa.Text)
    rule_id: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    resolution: str | None = Field(default=None, sa_type=sa.Text)
    raised_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class QualityRule(SQLModel, table=True):
    """A warning rule as alerting announces it: the topics it reads and its window."""

    __tablename__ = "quality_rules"
    __table_args__ = {"schema": SCHEMA}

    rule_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    version: int
    enabled: bool
    topics: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    window_days: int | None = None


class ScorecardMonth(SQLModel, table=True):
    """A month whose scorecards were published to hub_scorecards, and where they are in its
    log (the gauges read them there)."""

    __tablename__ = "scorecard_months"
    __table_args__ = {"schema": SCHEMA}

    month: date = Field(primary_key=True)
    published_at: datetime | None = database_now()
    scorecards: int
    first_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
