"""Dashboards and alert rules query only the metrics contract of docs/metrics.md."""

from __future__ import annotations

import pytest

from tests.deploy.metric_names import (
    METRICS_DOC,
    documented_metrics,
    family,
    names_in_expr,
    queried_metric_names,
    queried_series,
    rule_queries,
)


@pytest.fixture(scope="module")
def documented() -> dict[str, str]:
    assert METRICS_DOC.is_file(), f"{METRICS_DOC} is the metrics contract and must exist"
    names = documented_metrics()
    assert len(names) >= 20, "docs/metrics.md no longer parses: its tables changed shape"
    return names


def test_parser_reads_names_not_label_values() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(govhub_x_seconds_bucket{job="govhub_y",'
        " service=~'govhub_z'}[5m]))) / on() group_left govhub_other_total"
    )
    assert names_in_expr(expr) == {"govhub_x_seconds_bucket", "govhub_other_total"}
    hist = {"govhub_x_seconds": "histogram", "govhub_c_count": "counter"}
    assert family("govhub_x_seconds_bucket", hist) == "govhub_x_seconds"
    assert family("govhub_x_seconds_sum", hist) == "govhub_x_seconds"
    assert family("govhub_c_count", hist) == "govhub_c_count"


def test_every_queried_metric_is_documented(documented: dict[str, str]) -> None:
    queried = queried_metric_names()
    assert queried, "no query found: the dashboards or rules moved"
    undocumented = {
        name: sorted(where)
        for name, where in queried_series().items()
        if family(name, documented) not in documented
    }
    assert not undocumented, f"queried but not in docs/metrics.md: {undocumented}"


def test_histograms_are_queried_through_their_series(documented: dict[str, str]) -> None:
    # A histogram has no series under its bare name: rate(govhub_x_seconds[5m]) is empty.
    bare = {
        name: sorted(where)
        for name, where in queried_series().items()
        if documented.get(name) == "histogram"
    }
    assert not bare, f"histograms queried without _bucket/_sum/_count: {bare}"


def test_every_documented_metric_is_on_a_dashboard_or_alert(documented: dict[str, str]) -> None:
    unused = set(documented) - queried_metric_names()
    assert not unused, f"documented but neither charted nor alerted on: {sorted(unused)}"


def test_alert_rules_are_all_parsed() -> None:
    alerts = {where.split(": ", 1)[1] for where, _ in rule_queries()}
    assert {
        "GovhubSubscriberLagHigh",
        "GovhubBusDeadLetters",
        "GovhubWebhookDeadLetters",
        "GovhubOutboxBacklogStale",
        "GovhubHigh5xxRatio",
        "GovhubSmsFailureRatioHigh",
        "GovhubWarningsBacklogGrowing",
        "GovhubTargetDown",
        "GovhubScorecardNotPublished",
    } <= alerts
