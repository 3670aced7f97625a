"""Prometheus metrics shared by every service (see docs/metrics.md)."""

from __future__ import annotations

import socket
import threading
from collections import Counter as Multiset
from collections.abc import Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# --- gauges read from the shared database ------------------------------------------------
# Every replica of a service reads the same figures from PostgreSQL. Declared in
# database_registry(service) instead of the default registry, they reach /metrics only from
# the replica that holds the service's lease (gauge_lease.py), so a sum over replicas stays
# the figure itself. The outbox gauges, shared by every service, carry a `service` label
# and are filtered by it.

# Services whose lease this process holds (a count: tests run several hubs in one process).
held_leases: Multiset[str] = Multiset()
_DATABASE_REGISTRIES: dict[str, CollectorRegistry] = {}
_BY_SERVICE_LABEL = CollectorRegistry(auto_describe=True)


def database_registry(service: str) -> CollectorRegistry:
    """The registry of a service's gauges read from the database (exported once)."""
    return _DATABASE_REGISTRIES.setdefault(service, CollectorRegistry(auto_describe=True))


class _LeasedDatabaseGauges(Collector):
    def collect(self) -> Iterator[Metric]:
        for service, registry in list(_DATABASE_REGISTRIES.items()):
            if held_leases[service] > 0:
                yield from registry.collect()
        for family in _BY_SERVICE_LABEL.collect():
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            kept.samples = [s for s in family.samples if held_leases[s.labels["service"]] > 0]
            yield kept

    def describe(self) -> list[Metric]:
        return []


REGISTRY.register(_LeasedDatabaseGauges())

DATABASE_GAUGES_EXPORTER = Gauge(
    "govhub_database_gauges_exporter",
    "1 on the one replica of a service that exports its gauges read from the database "
    "(it holds the service's lease in PostgreSQL), 0 on the others.",
    ["service"],
)
BUS_CONNECTED = Gauge(
    "govhub_bus_connected",
    "1 while this process is connected to the broker (always 1 with in-process events), "
    "0 while it reconnects: meanwhile events wait in the outbox.",
    ["service"],
)


def _flat_routes(routes: Any) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "effective_candidates"):  # an included router (FastAPI >= 0.165)
            yield from _flat_routes(route.effective_candidates())
        else:
            yield route


def initialise_http_routes(app: Any, *, service: str, prefixes: dict[str, str]) -> None:
    """A 500 series at zero for every route of the app and its mounted services, so the 5xx
    ratio reads 0 while all is well (the same labels as RequestContextMiddleware's)."""
    for route in _flat_routes(app.routes):
        prefix = getattr(route, "path", "")
        sub: Any = getattr(route, "app", None)
        if prefix in prefixes and hasattr(sub, "routes"):
            inner_routes = [(prefixes[prefix], prefix, r) for r in _flat_routes(sub.routes)]
        else:
            inner_routes = [(service, "", route)]
        for name, base, inner in inner_routes:
            path = getattr(inner, "path", None)
            for method in sorted(getattr(inner, "methods", None) or ()):
                if path is not None and method != "HEAD":
                    HTTP_REQUESTS.labels(name, base + path, method, "500")


def initialise(counter: Counter, *label_sets: tuple[str, ...]) -> None:
    """Create a counter's series at zero for label values known before anything happens,
    so rates and ratios read 0, not No data, and increase() sees the first event."""
    for labels in label_sets:
        counter.labels(*labels)


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
    "govhub_outbox_pending_events",
    "Outbox rows not yet published.",
    ["service"],
    registry=_BY_SERVICE_LABEL,
)
OUTBOX_OLDEST_AGE = Gauge(
    "govhub_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none).",
    ["service"],
    registry=_BY_SERVICE_LABEL,
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
CONSUMER_OUTCOMES = ("processed", "duplicate", "retried", "failed")
CONSUMERS_WAITING_FOR_DATABASE = Gauge(
    "govhub_bus_consumers_waiting_for_database",
    "1 while this process's consumers hold their events waiting for an unreachable database.",
    ["service"],
)


def serve_metrics(host: str, port: int, *, shared_port: bool = False) -> WSGIServer:
    """Serve `/metrics` (and nothing else: 404) on a port of its own, from a thread of this
    process, so that the API port need not expose it (GOVHUB_METRICS_PORT). With
    `shared_port` several processes (`govhub run --workers N`) bind the same port, as they
    share the API port: each scrape is answered by one of them."""
    metrics_app = make_wsgi_app()

    def only_metrics(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/metrics":
            return metrics_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: this port serves /metrics only\n"]

    class _Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        def server_bind(self) -> None:
            if shared_port:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    class _QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every few seconds is no news

    server = make_server(host, port, only_metrics, _Server, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="govhub-metrics", daemon=True).start()
    return server
