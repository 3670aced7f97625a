"""Prometheus series of the alerting service (names in docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from govhub_common.metrics import database_registry

# Read from the shared database: exported by the replica holding the lease only.
DATABASE = database_registry("alerting")

WARNINGS_RAISED = Counter(
    "govhub_alerting_warnings_raised_total", "Warnings raised, by rule.", ["rule"]
)
WARNINGS_RESOLVED = Counter(
    "govhub_alerting_warnings_resolved_total",
    "Warnings resolved, by rule and resolution.",
    ["rule", "resolution"],
)
WARNINGS_OPEN = Gauge(
    "govhub_alerting_warnings_open",
    "Warnings open or under investigation, by rule and assigned agency.",
    ["rule", "agency"],
    registry=DATABASE,
)
REMINDERS_DUE = Counter(
    "govhub_alerting_reminders_due_total", "Reminders emitted (alerting.reminder.due).", ["rule"]
)
REMINDERS_UNSENT = Counter(
    "govhub_alerting_reminders_unsent_total",
    "Reminders due but not emitted, by rule and reason (no_recipient: no mobile known).",
    ["rule", "reason"],
)
FOLLOW_UP_RATIO = Gauge(
    "govhub_alerting_follow_up_ratio",
    "Warnings resolved as complied late over warnings raised, by rule (all time).",
    ["rule"],
    registry=DATABASE,
)
TIMERS_PENDING = Gauge(
    "govhub_alerting_timers_pending", "Timers not yet fired or cancelled.", registry=DATABASE
)
