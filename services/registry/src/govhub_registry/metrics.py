"""The registry's Prometheus series (names fixed in docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from govhub_common.metrics import database_registry

# Read from the shared database: exported by the replica holding the lease only.
DATABASE = database_registry("registry")

RECORDS_INGESTED = Counter(
    "govhub_registry_records_ingested_total",
    "Exchange records applied to golden records (after mapping and matching).",
    ["topic"],
)
CONFLICTS_OPEN = Gauge(
    "govhub_registry_conflicts_open",
    "Attributes on which agencies currently disagree.",
    registry=DATABASE,
)
MATCH_REVIEW_PENDING = Gauge(
    "govhub_registry_match_review_pending",
    "Records without a usable ID awaiting review.",
    registry=DATABASE,
)
