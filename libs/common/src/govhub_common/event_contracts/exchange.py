"""The exchange's events (producer: govhub_exchange)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from govhub_common.event_contracts._base import Contract

LOG_ARCHIVED = "exchange.log.archived"


class PublishedRecord(Contract):
    seq: int = Field(description="The record's position in its topic's log.")
    record_id: str
    version: int = Field(description="1 for a record id's first data, +1 for each change.")
    topic_version: int = Field(description="The schema version the record was checked against.")
    business_time: datetime | None = Field(
        description="When it happened in the world, as the publisher said; null: not said."
    )
    published_at: datetime
    data: dict[str, Any] = Field(description="The record's data, every item (not minimised).")


class PublishCounts(Contract):
    accepted: int
    duplicates: int
    rejected: int


class RecordsPublished(Contract):
    topic: str
    topic_version: int
    publisher: str = Field(description="The publishing agency's code.")
    batch_id: str
    counts: PublishCounts
    records: list[PublishedRecord]


class CatalogItem(Contract):
    name: str
    title: str | None = None
    type: str | None = Field(None, description="The item's JSON type, or null.")
    format: str | None = Field(None, description="e.g. date, cn-uscc; or null.")
    required: bool | None = None
    since_version: int | None = None
    personal: bool | None = Field(
        None,
        description="The catalog marks it personal data (`x-personal`); null: not said (an "
        "event staged before the flag was carried).",
    )


class CatalogTopic(Contract):
    code: str
    owner: str
    title: str
    sharing_type: str
    current_version: int
    items: list[CatalogItem] = Field(description="Every data item the topic has had.")


class CatalogTopics(Contract):
    """Each entry is the topic's whole current state: a consumer replaces what it holds (the
    higher current_version wins), so a repeat changes nothing."""

    topics: list[CatalogTopic]


SubscriptionStatus = Literal["approved", "refused", "revoked"]


class SubscriptionGrant(Contract):
    subscription_id: int
    topic: str
    subscriber: str = Field(description="The subscribing agency's code.")
    status: SubscriptionStatus = Field(
        description="approved: the items are granted from now on; refused or revoked: nothing "
        "is (a refused or revoked subscription is final)."
    )
    items: list[str] = Field(
        description="The data items the subscription asked for and, when approved, is granted."
    )
    at: datetime = Field(description="When the owner (or the hub) decided or revoked it.")


class SubscriptionGrants(Contract):
    """Subscriptions decided or revoked. Each entry is the subscription's state as of `at`:
    a consumer keeps the newest per subscription, and a refused or revoked one stays so."""

    subscriptions: list[SubscriptionGrant]


RevocationKind = Literal["client", "agency"]


class Revocation(Contract):
    kind: RevocationKind
    subject: str = Field(description="The client id or the agency code.")
    generation: int = Field(description="Tokens with a lower client_gen/agency_gen are refused.")
    expires_at: datetime = Field(description="When the last token it refuses has expired.")


class IdentityRevoked(Contract):
    reason: str
    revocations: list[Revocation]


class PausedWebhook(Contract):
    subscription_id: int
    topic: str
    subscriber: str
    status: Literal["paused"]
    reason: str | None
    since: datetime | None
    consecutive_failures: int


class WebhooksPaused(Contract):
    webhooks: list[PausedWebhook]


class ResumedWebhook(Contract):
    subscription_id: int
    topic: str
    subscriber: str
    status: Literal["active"]
    by: str = Field(description="Who resumed it (an agency code).")
    cause: str = Field(description="What resumed it: the resume operation or a new webhook.")


class WebhooksResumed(Contract):
    webhooks: list[ResumedWebhook]


class RetentionPeriod(Contract):
    days: int = Field(description="How long the topic's records stay in the live log.")
    legal_basis: str = Field(description="The rule that sets the period.")


class ArchivedSegment(Contract):
    topic: str
    segment: int = Field(description="The segment's id in the exchange's log.")
    first_seq: int
    last_seq: int
    records: int
    live_from: int = Field(
        description="The topic's first seq still in the live log: every record before it is "
        "archived, and the hub's services forget what they derived from them."
    )
    file: str = Field(description="The archive file, relative to the exchange's archive dir.")
    retention: RetentionPeriod
    archived_at: datetime


class LogArchived(Contract):
    """Segments of topics' logs past their retention, written to files and dropped."""

    segments: list[ArchivedSegment]
