from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode

from govhub_common.settings import CommonSettings

# Where a webhook may not post unless GOVHUB_WEBHOOK_ALLOW_NETWORKS lets it: the hub's own
# and internal networks (delivery/targets.py adds the addresses of the host it runs on).
DEFAULT_WEBHOOK_DENY_NETWORKS = (
    "0.0.0.0/8",  # "this network", the unspecified address
    "10.0.0.0/8",  # private (RFC 1918)
    "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata services
    "172.16.0.0/12",  # private (RFC 1918)
    "192.0.0.0/24",  # IETF protocol assignments
    "192.168.0.0/16",  # private (RFC 1918)
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
    "::/128",  # unspecified
    "::1/128",  # loopback
    "fc00::/7",  # unique local (ULA)
    "fe80::/10",  # link-local
    "ff00::/8",  # multicast
)


def _cidr_list(value: Any) -> Any:
    """A CIDR list from the environment: JSON (`["10.1.0.0/16"]`) or comma-separated
    (`10.1.0.0/16,10.2.0.0/16`); each must be a network (a bad one stops the start)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    for network in value:
        ipaddress.ip_network(network, strict=False)
    return value


Networks = Annotated[list[str], NoDecode, BeforeValidator(_cidr_list)]


class ExchangeSettings(CommonSettings):
    """Settings of the exchange service (prefix GOVHUB_)."""

    token_ttl_seconds: int = Field(900, ge=60, description="Lifetime of issued access tokens.")
    person_token_ttl_seconds: int = Field(
        300,
        ge=30,
        description="Lifetime of a person's access token, issued to the console by token "
        "exchange (RFC 8693); the console renews it while the sign-in lasts "
        "(GOVHUB_CONSOLE_SESSION_MAX_SECONDS).",
    )
    oidc_cache_seconds: float = Field(
        300,
        ge=0,
        description="How long the identity provider's discovery document and signing keys "
        "(JWKS) are kept before they are fetched again; a key id not among them is fetched "
        "at once (at most every 10 seconds).",
    )
    oidc_timeout_seconds: float = Field(
        5, gt=0, description="Deadline of one request to the identity provider."
    )
    secret_cache_seconds: float = Field(
        300, ge=0, description="How long a verified client secret skips the slow KDF."
    )
    token_client_burst: int = Field(
        10,
        ge=1,
        description="Token endpoint: failed authentications a client id may have in a row "
        "before it gets 429 (successful ones cost nothing). Per replica.",
    )
    token_client_per_minute: float = Field(
        10, gt=0, description="Token endpoint: failed attempts a client id regains per minute."
    )
    token_address_burst: int = Field(
        30,
        ge=1,
        description="Token endpoint: failed authentications one address may have in a row "
        "before it gets 429 (successful ones cost nothing). Per replica.",
    )
    token_address_per_minute: float = Field(
        30, gt=0, description="Token endpoint: failed attempts an address regains per minute."
    )
    trusted_proxies: Networks = Field(
        default_factory=list,
        description="CIDR networks of the reverse proxies in front of the exchange (JSON "
        "list or comma-separated): only from these is X-Forwarded-For believed when the "
        "token endpoint rate-limits per address; otherwise the direct peer counts.",
    )
    publish_max_records: int = Field(10_000, ge=1, description="Records per publish request.")
    publish_max_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Bytes per publish.")
    feed_max_limit: int = Field(5_000, ge=1, description="Largest page of a pull feed.")
    feed_max_wait_seconds: float = Field(30, ge=0, description="Longest long-poll of a feed.")
    webhook_max_attempts: int = Field(8, ge=1, description="Attempts before a dead letter.")
    webhook_backoff_base_seconds: float = Field(2.0, gt=0, description="First retry delay.")
    webhook_backoff_max_seconds: float = Field(3600, gt=0, description="Longest retry delay.")
    webhook_timeout_seconds: float = Field(
        10,
        gt=0,
        description="Total deadline of one webhook attempt: connecting, sending the request "
        "and reading the response (a receiver that trickles its reply fails at the deadline).",
    )
    webhook_lease_seconds: float = Field(
        60,
        gt=0,
        description="How long a claimed delivery is reserved; after a crash it is retried "
        "(same webhook id) once this has passed. Must exceed the attempt deadline.",
    )
    webhook_concurrency: int = Field(
        128, ge=1, description="Webhook posts in flight per replica, over all subscriptions."
    )
    webhook_subscription_concurrency: int = Field(
        8,
        ge=1,
        description="Webhook posts in flight per subscription, over all replicas; a slow "
        "endpoint holds at most these, never the others' slots.",
    )
    webhook_pause_after_failures: int = Field(
        10,
        ge=1,
        description="Consecutive failed attempts (errors, non-2xx, deadline exceeded) after "
        "which a subscription's webhook is paused until resumed.",
    )
    webhook_pause_after_seconds: float = Field(
        3600,
        gt=0,
        description="Failing without a success for this long also pauses the webhook.",
    )
    webhook_poll_seconds: float = Field(0.5, gt=0, description="Idle poll of the webhook worker.")
    webhook_deny_networks: Networks = Field(
        default_factory=lambda: list(DEFAULT_WEBHOOK_DENY_NETWORKS),
        description="CIDR networks a webhook may not post to (JSON list or comma-separated); "
        "the host's own addresses are denied too. Default: loopback, private (RFC 1918, "
        "ULA), link-local, carrier-grade NAT, multicast, reserved and unspecified ranges. "
        "Checked when a webhook is set and at every connection, after DNS resolution.",
    )
    webhook_allow_networks: Networks = Field(
        default_factory=list,
        description="CIDR networks a webhook may post to even where the deny list (or the "
        "host's own addresses) would refuse them: an agency's endpoint on an internal "
        "network, a test receiver on 127.0.0.1.",
    )
    audit_checkpoint_seconds: float = Field(
        300,
        gt=0,
        description="How often the audit chain head is signed and exported to "
        "GOVHUB_AUDIT_CHECKPOINT_DIR: entries appended since the last export can be cut "
        "unseen by the database's superuser, so this is the window of that attack.",
    )
    audit_checkpoint_dir: Path | None = Field(
        None,
        description="Folder the signed audit heads are exported to, one file per checkpoint, "
        "created 0600 and never rewritten: put it where the database's superuser cannot write "
        "(another host's volume) and ship it to write-once storage. /audit/verify checks the "
        "chain against it. Unset: GOVHUB_HOME/audit-checkpoints/<database name>.",
    )
    audit_previous_public_key_files: list[Path] = Field(
        default_factory=list,
        description="PEM public keys the hub signed audit checkpoints with before its key "
        "was rotated (JSON list of paths): /audit/verify accepts their signatures too.",
    )
    audit_delivery_seconds: float = Field(
        1.0,
        gt=0,
        description="How often publishes and feed deliveries are appended to the audit log.",
    )
    lag_refresh_seconds: float = Field(5, gt=0, description="Refresh of the lag gauges.")
    scorecard_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "timeliness": 2.0,
            "validity": 2.0,
            "uniqueness": 1.0,
            "consistency": 2.0,
            "completeness": 1.0,
            "responsiveness": 2.0,
        },
        description="Weight of each dimension in a scorecard's grade (docs/quality.md), as "
        'JSON: `{"timeliness": 2, ...}`; a dimension left out weighs nothing.',
    )
    scorecard_timeliness_target_seconds: int = Field(
        86400, gt=0, description="A record arriving later than this after it happened is late."
    )
    scorecard_decision_target_seconds: int = Field(
        7 * 86400,
        gt=0,
        description="A subscription request decided later than this after it was made is late.",
    )
    scorecard_check_seconds: float = Field(
        3600,
        gt=0,
        description="How often the exchange looks for a month ended whose scorecards are not "
        "yet published to hub_scorecards (not in simulation: the simulation closes months).",
    )

    archive_dir: Path | None = Field(
        None,
        description="Folder archived log segments are written to (docs/exchange.md, "
        '"Retention and archive"): a compressed NDJSON file and a manifest per segment, '
        "under a folder per topic. Put it on durable storage and back it up. Unset: "
        "GOVHUB_HOME/archive/<database name>.",
    )
    log_segment_max_age_days: int = Field(
        30,
        ge=1,
        description="A topic's open log segment whose first record is older than this is "
        "closed at the next maintenance, so that a retention can take it: how late past its "
        "retention a record can stay.",
    )
    log_compress_after_hours: float = Field(
        24,
        ge=0,
        description="Records published longer ago than this are moved, at the next log "
        'maintenance, into compressed blocks of up to 1,000 (docs/exchange.md, "Blocks: the '
        "log's old records compressed\"): a third to a half of the disk, read as before. Feeds "
        "and webhooks read younger records from plain rows.",
    )
    log_maintenance_seconds: float = Field(
        3600,
        gt=0,
        description="How often open segments are closed, old records compressed and "
        "segments past their topic's retention archived (not in simulation: "
        "`govhub exchange log maintain --as-of`).",
    )
    log_import_keep_days: int = Field(
        7,
        ge=1,
        description="How long segments brought back by `govhub exchange log import` stay in "
        "the live log, whatever their topic's retention.",
    )

    @model_validator(mode="after")
    def _known_dimensions(self) -> ExchangeSettings:
        from govhub_exchange.quality.schemas import DIMENSIONS

        unknown = set(self.scorecard_weights) - set(DIMENSIONS)
        if unknown or any(w < 0 for w in self.scorecard_weights.values()):
            raise ValueError(
                f"scorecard_weights: dimensions are {', '.join(DIMENSIONS)}, weights >= 0"
            )
        return self

    @model_validator(mode="after")
    def _refuse_generated_credentials_in_production(self) -> ExchangeSettings:
        # The exchange signs tokens and keeps the operator client: in production neither
        # may come from a file generated under GOVHUB_HOME (an emptyDir in Kubernetes),
        # which a restart or another replica would replace.
        if self.environment != "production":
            return self
        if not self.jwt_private_key_file:
            raise ValueError(
                "production refuses a generated token signing key: set "
                "GOVHUB_JWT_PRIVATE_KEY_FILE (the exchange signs access tokens)"
            )
        if self.operator_bootstrap_secret is None and not self.allow_generated_operator_secret:
            raise ValueError(
                "production refuses a generated operator secret (it would change on every "
                "restart and scale-up): set GOVHUB_OPERATOR_BOOTSTRAP_SECRET, or "
                "GOVHUB_ALLOW_GENERATED_OPERATOR_SECRET=true for a throwaway hub"
            )
        if self.console_client_secret is None:
            # The console, another process, must be given the same secret.
            raise ValueError(
                "production refuses a generated console client secret: set "
                "GOVHUB_CONSOLE_CLIENT_SECRET (the same for the exchange and the console)"
            )
        return self

    @property
    def longest_token_ttl_seconds(self) -> int:
        """How long a token issued now may live: a revocation is kept at least this long."""
        return max(self.token_ttl_seconds, self.person_token_ttl_seconds)

    @model_validator(mode="after")
    def _lease_outlives_an_attempt(self) -> ExchangeSettings:
        # A lease ending while its post still runs would let another replica post it too.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds")
        return self
