"""The exchange's Prometheus series (names fixed by docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from govhub_common.metrics import database_registry

# Read from the shared database: exported by the replica holding the lease only.
DATABASE = database_registry("exchange")

RECORDS_PUBLISHED = Counter(
    "govhub_exchange_records_published", "Records appended to the exchange log.", ["topic"]
)
RECORDS_REJECTED = Counter(
    "govhub_exchange_records_rejected", "Records quarantined as invalid.", ["topic"]
)
SUBSCRIPTION_LAG_RECORDS = Gauge(
    "govhub_exchange_subscription_lag_records",
    "Records published but not yet acknowledged by the subscriber.",
    ["subscription", "topic", "subscriber"],
    registry=DATABASE,
)
SUBSCRIPTION_LAG_SECONDS = Gauge(
    "govhub_exchange_subscription_lag_seconds",
    "Age of the oldest record not yet acknowledged by the subscriber.",
    ["subscription", "topic", "subscriber"],
    registry=DATABASE,
)
LOG_RETENTION_OVERDUE = Gauge(
    "govhub_exchange_log_retention_overdue_seconds",
    "How long past the latest it may stay live (its retention plus the segments' maximum "
    "age) the oldest live record of a topic with a retention is; 0 while none is.",
    ["topic"],
    registry=DATABASE,
)
LOG_COMPRESSION_OVERDUE = Gauge(
    "govhub_exchange_log_compression_overdue_seconds",
    "How long past the latest the log maintenance moves it into a compressed block (the "
    "compress age, the wait of a block's last few records and one maintenance interval) "
    "the oldest record of a topic still stored as a row is; 0 while none is.",
    ["topic"],
    registry=DATABASE,
)
DELIVERY_LATENCY = Histogram(
    "govhub_exchange_delivery_latency_seconds",
    "From publish to first delivery of a record.",
    ["topic", "mode"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
WEBHOOK_ATTEMPTS = Counter(
    "govhub_exchange_webhook_attempts", "Webhook posts by outcome.", ["subscriber", "outcome"]
)
WEBHOOK_DEAD_LETTERS = Gauge(
    "govhub_exchange_webhook_dead_letters",
    "Webhook deliveries parked as dead.",
    ["subscriber"],
    registry=DATABASE,
)
WEBHOOK_PAUSED = Gauge(
    "govhub_exchange_webhook_paused",
    "1 while the subscription's webhook is paused after its endpoint kept failing, else 0.",
    ["subscription", "topic", "subscriber"],
    registry=DATABASE,
)
WEBHOOK_PAUSES = Counter(
    "govhub_exchange_webhook_pauses", "Webhooks paused after failing.", ["subscriber"]
)

# The scorecards of the last month published to hub_scorecards (quality/publication.py).
SCORECARD_GRADE = Gauge(
    "govhub_exchange_scorecard_grade",
    "Grade (0-100) of each agency's scorecard for the last month published.",
    ["agency"],
    registry=DATABASE,
)
SCORECARD_SCORE = Gauge(
    "govhub_exchange_scorecard_score",
    "Score (0-100) of each dimension of each agency's scorecard for the last month published.",
    ["agency", "dimension"],
    registry=DATABASE,
)
SCORECARD_TOPIC_SCORE = Gauge(
    "govhub_exchange_scorecard_topic_score",
    "Score (0-100) of each dimension of each topic's scorecard for the last month published.",
    ["agency", "topic", "dimension"],
    registry=DATABASE,
)
SCORECARD_MONTH = Gauge(
    "govhub_exchange_scorecard_month_timestamp_seconds",
    "The first moment (Asia/Shanghai) of the last month whose scorecards were published.",
    registry=DATABASE,
)
