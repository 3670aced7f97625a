from __future__ import annotations

from pydantic import Field

from govhub_common.settings import CommonSettings


class ExchangeSettings(CommonSettings):
    """Settings of the exchange service (prefix GOVHUB_)."""

    token_ttl_seconds: int = Field(900, ge=60, description="Lifetime of issued access tokens.")
    secret_cache_seconds: float = Field(
        300, ge=0, description="How long a verified client secret skips the slow KDF."
    )
    publish_max_records: int = Field(10_000, ge=1, description="Records per publish request.")
    publish_max_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Bytes per publish.")
    feed_max_limit: int = Field(5_000, ge=1, description="Largest page of a pull feed.")
    feed_max_wait_seconds: float = Field(30, ge=0, description="Longest long-poll of a feed.")
    webhook_max_attempts: int = Field(8, ge=1, description="Attempts before a dead letter.")
    webhook_backoff_base_seconds: float = Field(2.0, gt=0, description="First retry delay.")
    webhook_backoff_max_seconds: float = Field(3600, gt=0, description="Longest retry delay.")
    webhook_timeout_seconds: float = Field(10, gt=0, description="HTTP timeout of one attempt.")
    webhook_lease_seconds: float = Field(
        120,
        gt=0,
        description="How long a claimed delivery is reserved; after a crash it is retried "
        "(same webhook id) once this has passed. Must exceed a round of posts.",
    )
    webhook_concurrency: int = Field(32, ge=1, description="Webhook posts in flight.")
    webhook_poll_seconds: float = Field(0.5, gt=0, description="Idle poll of the webhook worker.")
    audit_checkpoint_seconds: float = Field(
        300, gt=0, description="How often the audit chain head is signed."
    )
    audit_delivery_seconds: float = Field(
        1.0,
        gt=0,
        description="How often publishes and feed deliveries are appended to the audit log.",
    )
    lag_refresh_seconds: float = Field(5, gt=0, description="Refresh of the lag gauges.")
