"""The sms-gateway's Prometheus series (names fixed in docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from govhub_common.metrics import database_registry

# Read from the shared database: exported by the replica holding the lease only.
DATABASE = database_registry("sms-gateway")

SENT = Counter(
    "govhub_sms_messages_sent_total",
    "Messages accepted by a provider.",
    ["provider", "template"],
)
DELIVERED = Counter(
    "govhub_sms_messages_delivered_total",
    "Messages with a delivered report.",
    ["provider", "template"],
)
FAILED = Counter(
    "govhub_sms_messages_failed_total",
    "Messages that ended failed (provider 'policy' for caps and opt-outs).",
    ["provider", "template"],
)
DELIVERY_REPORT_SECONDS = Histogram(
    "govhub_sms_delivery_report_seconds",
    "Time from submit to the delivery report.",
    ["provider"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
QUEUE_DEPTH = Gauge(
    "govhub_sms_queue_depth",
    "Messages queued or deferred, not yet handed to a provider.",
    registry=DATABASE,
)
AMBIGUOUS = Counter(
    "govhub_sms_messages_ambiguous_total",
    "Messages that became ambiguous: handed to a provider, acceptance unknown (submit "
    "timeout, link lost, or a sender that died before recording the answer). Not resent "
    "by themselves: a receipt reconciles them, or an operator resends or abandons them.",
    ["provider", "template"],
)
