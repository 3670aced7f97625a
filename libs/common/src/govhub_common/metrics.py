"""Prometheus metrics shared by every service (see docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "govhub_http_requests_total",
    "HTTP requests by route template and status.",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "govhub_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["service", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_PENDING = Gauge(
    "govhub_outbox_pending_events", "Outbox rows not yet published.", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "govhub_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none).",
    ["service"],
)
EVENTS_PUBLISHED = Counter(
    "govhub_bus_events_published_total",
    "Events published with a broker confirm.",
    ["service", "type"],
)
EVENTS_CONSUMED = Counter(
    "govhub_bus_events_consumed_total",
    "Events handled by consumers; outcome is processed, duplicate, retried (a transient "
    "fault: database unreachable, deadlock, timeout) or failed.",
    ["service", "group", "outcome"],
)
DEAD_LETTERS = Counter(
    "govhub_bus_dead_letters_total",
    "Events this process moved to a dead-letter queue after their last attempt failed.",
    ["service", "group"],
)
DEAD_LETTER_QUEUE_MESSAGES = Gauge(
    "govhub_bus_dead_letter_queue_messages",
    "Events waiting in a consumer group's dead-letter queue, however they got there (the "
    "broker's own count: also events it dead-lettered after consumers died holding them). "
    "Every replica reports the same figure: aggregate with max.",
    ["service", "group"],
)
CONSUMERS_WAITING_FOR_DATABASE = Gauge(
    "govhub_bus_consumers_waiting_for_database",
    "1 while this process's consumers hold their events waiting for an unreachable database.",
    ["service"],
)
