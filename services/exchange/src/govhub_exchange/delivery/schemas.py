"""Feed pages, delivery status, subscription figures and webhook dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from govhub_exchange.fields import Id

FeedStatus = Literal["pending", "delivered", "acknowledged"]


class FeedRecord(BaseModel):
    """A record as a subscriber reads it: only the data items its subscription grants."""

    seq: int = Field(description="Its position in the topic's log.")
    record_id: str
    version: int = Field(description="The record id's version (1 for the first).")
    topic_version: int | None = Field(
        description="The topic schema version it was published under, when the publisher named one."
    )
    business_time: datetime | None
    published_at: datetime
    data: dict[str, Any] = Field(description="The granted data items.")


class FeedPage(BaseModel):
    """A page of a subscription's feed (a log). `next` is the cursor of the following page
    while the log holds more, and null once the reader has caught up (`caught_up`), so a
    `while next:` loop ends; `position` is always set: pass it as `cursor` later (with
    `wait` to long-poll) to read what was published since."""

    data: list[FeedRecord]
    next: str | None = Field(description="Pass as `cursor` for the next page; null when caught up.")
    caught_up: bool = Field(description="The page reached the head of the log as it was read.")
    position: str = Field(
        description="A cursor after this page's last record (or the one given): resume "
        "from it later."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "data": [
                        {
                            "seq": 1025,
                            "record_id": "91440101MA5CXXXX1A",
                            "version": 1,
                            "topic_version": 1,
                            "business_time": "2026-03-02T01:15:00Z",
                            "published_at": "2026-03-02T01:15:02.418Z",
                            "data": {
                                "uscc": "91440101MA5CXXXX1A",
                                "name": "广州市天河区穗安科技有限公司",
                                "registered_on": "2026-03-02",
                            },
                        }
                    ],
                    "next": None,
                    "caught_up": True,
                    "position": "WzEwMjVd",
                }
            ]
        }
    }


class WebhookTally(BaseModel):
    count: int = Field(description="Webhook deliveries in this status.")
    attempts: int = Field(description="Their attempts so far.")


class WebhookEndpointHealth(BaseModel):
    status: Literal["active", "paused"] | None
    paused_reason: str | None
    paused_since: datetime | None
    consecutive_failures: int
    retry_at: datetime | None


class SubscriptionStats(BaseModel):
    """Where a subscription stands: lag, delivery progress and webhook attempts."""

    subscription_id: int
    topic: str
    subscriber: str
    head_seq: int = Field(description="The topic log's last seq.")
    acked_seq: int = Field(description="The feed acknowledged every record up to this seq.")
    delivered_seq: int = Field(description="The feed returned every record up to this seq.")
    webhook_delivered_seq: int
    lag_records: int = Field(description="Records published that the subscriber has not got.")
    lag_seconds: float = Field(description="Age of the oldest record it has not got.")
    webhook: dict[str, WebhookTally] = Field(
        description="Webhook deliveries by status (pending, delivered, dead)."
    )
    webhook_endpoint: WebhookEndpointHealth | None = Field(
        description="The endpoint's health; null without a webhook."
    )


class DeliveryStatus(BaseModel):
    """One record's delivery to one subscriber, by feed and by webhook."""

    subscription_id: int
    subscriber: str
    seq: int
    record_id: str
    version: int
    published_at: datetime
    feed_status: FeedStatus
    webhook_id: str | None
    webhook_status: Literal["pending", "delivered", "dead"] | None
    webhook_attempts: int | None
    webhook_last_error: str | None
    webhook_delivered_at: datetime | None


class WebhookDeadLetter(BaseModel):
    """A webhook delivery given up after its attempts ran out."""

    subscription_id: int
    subscriber: str
    topic: str
    seq: int
    record_id: str
    webhook_id: str
    attempts: int
    last_error: str | None
    last_status: int | None
    created_at: datetime


class WebhookRedrive(BaseModel):
    """Which dead webhook deliveries to re-drive: one (subscription and seq), a
    subscription's, or (empty) all."""

    subscription_id: Id | None = None
    seq: Id | None = Field(None, description="Needs subscription_id.")

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            # A seq names a delivery of one subscription.
            "if": {"required": ["seq"], "properties": {"seq": {"type": "integer"}}},
            "then": {
                "required": ["subscription_id"],
                "properties": {"subscription_id": {"type": "integer"}},
            },
            "examples": [{"subscription_id": 7, "seq": 1025}, {}],
        },
    }


class WebhookRedriveResult(BaseModel):
    redriven: int = Field(description="Deliveries put back in the queue.")
