"""Generate govhub's Grafana dashboards from code into helm/govhub/dashboards/*.json.

    uv run --with 'grafana-foundation-sdk==1769699379!11.6.0' \
        python deploy/dashboards/generate.py           # write the JSON files
    ... python deploy/dashboards/generate.py --check   # exit 1 if the files are stale

Every query uses only metric names from docs/metrics.md (tests/deploy checks it). The
dashboards take their Prometheus data source from a `datasource` variable, so they work in
any Grafana whatever its data source is called.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    StackingConfig,
    TableSortByFieldState,
    VizLegendOptions,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    LineInterpolation,
    StackingMode,
    TableAutoCellOptions,
    TableColoredBackgroundCellOptions,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

# The SDK version the checked-in JSON was generated with; another version may serialise
# differently and make --check report stale files.
SDK_VERSION = "1769699379!11.6.0"

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "helm" / "govhub" / "dashboards"

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
TAGS = ["govhub", "generated"]


def q(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)


def now_q(expr: str, legend: str = "", *, rows: bool = False) -> prometheus.Dataquery:
    """An instant query: what the gauges say now (sort_desc keeps its order only in one);
    `rows` answers a table, one row per series with its labels as columns."""
    query = q(expr, legend).instant()
    return query.format(PromQueryFormat.TABLE) if rows else query


def graph(
    title: str,
    queries: Iterable[tuple[str, str]],
    *,
    unit: str = "short",
    description: str = "",
    span: int = 12,
    height: int = 8,
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(span)
        .height(height)
        .min(0)
        .fill_opacity(10 if not stacked else 40)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .calcs(["mean", "max", "lastNotNull"])
        )
    )
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(q(expr, legend, chr(ord("A") + i)))
    return panel


def single(
    title: str, expr: str, *, unit: str = "short", description: str = "", span: int = 6
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(span)
        .height(4)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(q(expr))
    )


def base(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )


def label_variable(name: str, label: str, query: str, *, many: bool = True) -> dash.QueryVariable:
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    return variable.multi(True).include_all(True).all_value(".*") if many else variable


def job_variable() -> dash.QueryVariable:
    """The Prometheus job of the govhub targets (metrics.serviceMonitor.jobName): no job
    name is written into a query."""
    return (
        dash.QueryVariable("job")
        .label("Job")
        .datasource(DS)
        .query("label_values(govhub_http_requests_total, job)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def quantile(q_: float, metric: str, by: str, selector: str = "") -> str:
    return f"histogram_quantile({q_}, sum by (le, {by}) (rate({metric}_bucket{selector}[{RATE}])))"


# --- dashboards ------------------------------------------------------------------------


def overview() -> dash.Dashboard:
    sel = '{service=~"$service"}'
    err = '{service=~"$service", status=~"5.."}'
    return (
        base(
            "govhub-overview",
            "govhub / Overview",
            "Rate, errors and duration of every govhub service, and the event bus behind them.",
        )
        .with_variable(job_variable())
        .with_variable(
            label_variable(
                "service", "Service", "label_values(govhub_http_requests_total, service)"
            )
        )
        .with_row(dash.Row("Services"))
        .with_panel(single("Targets up", 'sum(up{job="$job"})', description="Scraped govhub pods."))
        .with_panel(
            single(
                "Targets down",
                'count(up{job="$job"} == 0) or vector(0)',
                description="govhub pods Prometheus cannot scrape.",
            )
        )
        .with_panel(
            single(
                "Pods without the broker",
                f"count(max by (service, instance) (govhub_bus_connected{sel}) == 0) or vector(0)",
                description="Pods reconnecting to RabbitMQ: still ready, their events wait "
                "in the outbox (GovhubBrokerDisconnected).",
            )
        )
        .with_panel(
            single(
                "Requests / s",
                f"sum(rate(govhub_http_requests_total{sel}[{RATE}]))",
                unit="reqps",
            )
        )
        .with_panel(
            single(
                "5xx ratio",
                f"sum(rate(govhub_http_requests_total{err}[{RATE}]))"
                f" / sum(rate(govhub_http_requests_total{sel}[{RATE}]))",
                unit="percentunit",
            )
        )
        .with_panel(
            graph(
                "Request rate by service",
                [
                    (
                        f"sum by (service) (rate(govhub_http_requests_total{sel}[{RATE}]))",
                        "{{service}}",
                    )
                ],
                unit="reqps",
                description="Rate: HTTP requests per second.",
            )
        )
        .with_panel(
            graph(
                "5xx ratio by service",
                [
                    (
                        f"sum by (service) (rate(govhub_http_requests_total{err}[{RATE}]))"
                        f" / sum by (service) (rate(govhub_http_requests_total{sel}[{RATE}]))",
                        "{{service}}",
                    )
                ],
                unit="percentunit",
                description="Errors: share of requests answered with a server error.",
            )
        )
        .with_panel(
            graph(
                "Latency p95 by service",
                [
                    (
                        quantile(0.95, "govhub_http_request_duration_seconds", "service", sel),
                        "{{service}}",
                    )
                ],
                unit="s",
                description="Duration: 95th percentile of request latency.",
            )
        )
        .with_panel(
            graph(
                "Latency p50 by service",
                [
                    (
                        quantile(0.5, "govhub_http_request_duration_seconds", "service", sel),
                        "{{service}}",
                    )
                ],
                unit="s",
                description="Duration: median request latency.",
            )
        )
        .with_panel(
            graph(
                "Slowest routes (p95)",
                [
                    (
                        "topk(10, "
                        + quantile(
                            0.95, "govhub_http_request_duration_seconds", "service, route", sel
                        )
                        + ")",
                        "{{service}} {{route}}",
                    )
                ],
                unit="s",
                span=24,
            )
        )
        .with_row(dash.Row("Event bus and outbox"))
        .with_panel(
            graph(
                "Events published by service",
                [
                    (
                        f"sum by (service) (rate(govhub_bus_events_published_total{sel}[{RATE}]))",
                        "{{service}}",
                    )
                ],
                unit="ops",
                span=8,
            )
        )
        .with_panel(
            graph(
                "Events consumed by outcome",
                [
                    (
                        f"sum by (service, outcome) (rate(govhub_bus_events_consumed_total{sel}[{RATE}]))",
                        "{{service}} {{outcome}}",
                    )
                ],
                unit="ops",
                span=8,
            )
        )
        .with_panel(
            graph(
                "Dead-lettered events",
                [
                    (
                        f"sum by (service, group) (increase(govhub_bus_dead_letters_total{sel}[{RATE}]))",
                        "{{service}} {{group}}",
                    )
                ],
                span=8,
                description="Events moved to a dead-letter queue after the delivery limit.",
            )
        )
        .with_panel(
            graph(
                "Outbox pending events",
                [(f"sum by (service) (govhub_outbox_pending_events{sel})", "{{service}}")],
            )
        )
        .with_panel(
            graph(
                "Oldest unpublished outbox event",
                [
                    (
                        f"max by (service) (govhub_outbox_oldest_pending_age_seconds{sel})",
                        "{{service}}",
                    )
                ],
                unit="s",
                description="Alerted on above one minute.",
            )
        )
        .with_row(dash.Row("Registry"))
        .with_panel(
            graph(
                "Records ingested by topic",
                [
                    (
                        "sum by (topic) (rate(govhub_registry_records_ingested_total["
                        + RATE
                        + "]))",
                        "{{topic}}",
                    )
                ],
                unit="ops",
            )
        )
        .with_panel(
            graph(
                "Open conflicts and matches to review",
                [
                    ("sum(govhub_registry_conflicts_open)", "conflicts open"),
                    ("sum(govhub_registry_match_review_pending)", "matches to review"),
                ],
            )
        )
    )


def exchange() -> dash.Dashboard:
    sel = '{topic=~"$topic"}'
    return (
        base(
            "govhub-exchange",
            "govhub / Exchange",
            "Records published and rejected per topic, delivery to subscribers, dead letters.",
        )
        .with_variable(
            label_variable(
                "topic", "Topic", "label_values(govhub_exchange_records_published_total, topic)"
            )
        )
        .with_row(dash.Row("Publishing"))
        .with_panel(
            graph(
                "Records published by topic",
                [
                    (
                        f"sum by (topic) (rate(govhub_exchange_records_published_total{sel}[{RATE}]))",
                        "{{topic}}",
                    )
                ],
                unit="ops",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Records rejected by topic",
                [
                    (
                        f"sum by (topic) (rate(govhub_exchange_records_rejected_total{sel}[{RATE}]))",
                        "{{topic}}",
                    )
                ],
                unit="ops",
                description="Records that failed validation and were quarantined.",
            )
        )
        .with_panel(
            graph(
                "Rejection ratio by topic",
                [
                    (
                        f"sum by (topic) (rate(govhub_exchange_records_rejected_total{sel}[{RATE}]))"
                        f" / (sum by (topic) (rate(govhub_exchange_records_published_total{sel}[{RATE}]))"
                        f" + sum by (topic) (rate(govhub_exchange_records_rejected_total{sel}[{RATE}])))",
                        "{{topic}}",
                    )
                ],
                unit="percentunit",
                span=24,
            )
        )
        .with_row(dash.Row("Delivery"))
        .with_panel(
            graph(
                "Delivery latency p95 by mode",
                [
                    (
                        quantile(0.95, "govhub_exchange_delivery_latency_seconds", "mode", sel),
                        "p95 {{mode}}",
                    ),
                    (
                        quantile(0.5, "govhub_exchange_delivery_latency_seconds", "mode", sel),
                        "p50 {{mode}}",
                    ),
                ],
                unit="s",
                description="From publication to delivery (feed read or webhook accepted).",
            )
        )
        .with_panel(
            graph(
                "Delivery latency p95 by topic",
                [
                    (
                        quantile(0.95, "govhub_exchange_delivery_latency_seconds", "topic", sel),
                        "{{topic}}",
                    )
                ],
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Subscriber lag (time), top 10",
                [
                    (
                        f"topk(10, max by (subscriber, topic) (govhub_exchange_subscription_lag_seconds{sel}))",
                        "{{subscriber}} / {{topic}}",
                    )
                ],
                unit="s",
                description="Alerted on above five minutes.",
            )
        )
        .with_panel(
            graph(
                "Subscriber lag (records), top 10",
                [
                    (
                        f"topk(10, max by (subscriber, topic) (govhub_exchange_subscription_lag_records{sel}))",
                        "{{subscriber}} / {{topic}}",
                    )
                ],
            )
        )
        .with_row(dash.Row("Webhooks and dead letters"))
        .with_panel(
            graph(
                "Webhook attempts by outcome",
                [
                    (
                        f"sum by (outcome) (rate(govhub_exchange_webhook_attempts_total[{RATE}]))",
                        "{{outcome}}",
                    )
                ],
                unit="ops",
                span=8,
            )
        )
        .with_panel(
            graph(
                "Webhook dead letters by subscriber",
                [("sum by (subscriber) (govhub_exchange_webhook_dead_letters)", "{{subscriber}}")],
                span=8,
            )
        )
        .with_panel(
            graph(
                "Webhook endpoints paused",
                [
                    (
                        "max by (subscriber, topic) (govhub_exchange_webhook_paused)",
                        "{{subscriber}} {{topic}}",
                    ),
                    (
                        f"sum by (subscriber) (increase(govhub_exchange_webhook_pauses_total[{RATE}]))",
                        "pauses {{subscriber}}",
                    ),
                ],
                span=8,
            )
        )
        .with_panel(
            graph(
                "Exchange events dead-lettered",
                [
                    (
                        'sum by (group) (increase(govhub_bus_dead_letters_total{service="exchange"}['
                        + RATE
                        + "]))",
                        "{{group}}",
                    )
                ],
                span=8,
            )
        )
        .with_panel(
            graph(
                "Records kept past their retention, by topic",
                [
                    (
                        "max by (topic) (govhub_exchange_log_retention_overdue_seconds" + sel + ")",
                        "{{topic}}",
                    )
                ],
                unit="s",
                description="How far past its retention plus the segments' maximum age the "
                "oldest live record of each topic with a retention is (0: none). The "
                "GovhubLogRetentionOverdue alert fires after two hours above 0.",
                span=8,
            )
        )
        .with_panel(
            graph(
                "Old records not yet compressed, by topic",
                [
                    (
                        "max by (topic) (govhub_exchange_log_compression_overdue_seconds"
                        + sel
                        + ")",
                        "{{topic}}",
                    )
                ],
                unit="s",
                description="How far past the latest the log maintenance moves it into a "
                "compressed block the oldest record of each topic still stored as a row is "
                "(0: none). The GovhubLogCompressionOverdue alert fires after two hours "
                "above 0.",
                span=8,
            )
        )
    )


def warnings() -> dash.Dashboard:
    sel = '{rule=~"$rule"}'
    return (
        base(
            "govhub-warnings",
            "govhub / Warnings",
            "Warnings raised and resolved per rule, open backlog per agency, follow-up rate.",
        )
        .with_variable(
            label_variable(
                "rule", "Rule", "label_values(govhub_alerting_warnings_raised_total, rule)"
            )
        )
        .with_row(dash.Row("Backlog"))
        .with_panel(single("Open warnings", f"sum(govhub_alerting_warnings_open{sel})"))
        .with_panel(single("Pending timers", "sum(govhub_alerting_timers_pending)"))
        .with_panel(
            single(
                "Raised (24 h)",
                f"sum(increase(govhub_alerting_warnings_raised_total{sel}[24h]))",
            )
        )
        .with_panel(
            single(
                "Resolved (24 h)",
                f"sum(increase(govhub_alerting_warnings_resolved_total{sel}[24h]))",
            )
        )
        .with_panel(
            graph(
                "Open warnings by agency",
                [(f"sum by (agency) (govhub_alerting_warnings_open{sel})", "{{agency}}")],
                stacked=True,
                span=24,
                description="The case backlog each agency has to work.",
            )
        )
        .with_row(dash.Row("Flow"))
        .with_panel(
            graph(
                "Warnings raised by rule",
                [
                    (
                        f"sum by (rule) (increase(govhub_alerting_warnings_raised_total{sel}[1h]))",
                        "{{rule}}",
                    )
                ],
                description="Per hour.",
            )
        )
        .with_panel(
            graph(
                "Warnings resolved by rule and resolution",
                [
                    (
                        f"sum by (rule, resolution) (increase(govhub_alerting_warnings_resolved_total{sel}[1h]))",
                        "{{rule}} {{resolution}}",
                    )
                ],
                description="Per hour.",
            )
        )
        .with_panel(
            graph(
                "Follow-up rate by rule",
                [(f"max by (rule) (govhub_alerting_follow_up_ratio{sel})", "{{rule}}")],
                unit="percentunit",
                description="Share of warnings an agency followed up.",
            )
        )
        .with_panel(
            graph(
                "Reminders due by rule",
                [
                    (
                        f"sum by (rule) (increase(govhub_alerting_reminders_due_total{sel}[1h]))",
                        "{{rule}}",
                    ),
                    (
                        "sum by (rule, reason) "
                        f"(increase(govhub_alerting_reminders_unsent_total{sel}[1h]))",
                        "{{rule}} not sent: {{reason}}",
                    ),
                ],
                description="Reminders sent to citizens and enterprises, per hour, and those "
                "not sent (no mobile known in the registry or on the record).",
            )
        )
    )


def sms() -> dash.Dashboard:
    sel = '{provider=~"$provider"}'
    return (
        base(
            "govhub-sms",
            "govhub / SMS",
            "SMS sent, delivered and failed per provider, time to delivery report, queue depth.",
        )
        .with_variable(
            label_variable(
                "provider", "Provider", "label_values(govhub_sms_messages_sent_total, provider)"
            )
        )
        .with_row(dash.Row("Messages"))
        .with_panel(single("Queue depth", "sum(govhub_sms_queue_depth)", span=8))
        .with_panel(
            single(
                "Sent (24 h)", f"sum(increase(govhub_sms_messages_sent_total{sel}[24h]))", span=8
            )
        )
        .with_panel(
            single(
                "Failure ratio (24 h)",
                f"sum(increase(govhub_sms_messages_failed_total{sel}[24h]))"
                f" / (sum(increase(govhub_sms_messages_failed_total{sel}[24h]))"
                f" + sum(increase(govhub_sms_messages_delivered_total{sel}[24h])))",
                unit="percentunit",
                span=8,
            )
        )
        .with_panel(
            graph(
                "Sent, delivered and failed by provider",
                [
                    (
                        f"sum by (provider) (rate(govhub_sms_messages_sent_total{sel}[{RATE}]))",
                        "sent {{provider}}",
                    ),
                    (
                        f"sum by (provider) (rate(govhub_sms_messages_delivered_total{sel}[{RATE}]))",
                        "delivered {{provider}}",
                    ),
                    (
                        f"sum by (provider) (rate(govhub_sms_messages_failed_total{sel}[{RATE}]))",
                        "failed {{provider}}",
                    ),
                ],
                unit="ops",
                span=24,
            )
        )
        .with_panel(
            graph(
                "Failed by template",
                [
                    (
                        f"sum by (template) (increase(govhub_sms_messages_failed_total{sel}[1h]))",
                        "{{template}}",
                    )
                ],
                description="Per hour.",
            )
        )
        .with_panel(
            graph(
                "Queue depth",
                [("sum(govhub_sms_queue_depth)", "queued")],
                description="Messages waiting to be sent (quiet hours, rate limits, retries).",
            )
        )
        .with_row(dash.Row("Delivery reports"))
        .with_panel(
            graph(
                "Time to delivery report by provider",
                [
                    (
                        quantile(0.5, "govhub_sms_delivery_report_seconds", "provider", sel),
                        "p50 {{provider}}",
                    ),
                    (
                        quantile(0.95, "govhub_sms_delivery_report_seconds", "provider", sel),
                        "p95 {{provider}}",
                    ),
                ],
                unit="s",
                span=24,
                description="From submission to the provider's delivery receipt.",
            )
        )
    )


# The dimensions of a scorecard (docs/quality.md), in its order; responsiveness is on
# agency scorecards only.
DIMENSIONS = ("timeliness", "validity", "uniqueness", "consistency", "completeness")
AGENCY_DIMENSIONS = (*DIMENSIONS, "responsiveness")
# A grade's letter (docs/quality.md): A from 90, B from 80, C from 70, D from 60, E below.
GRADE_COLOURS = ((None, "red"), (60, "orange"), (70, "yellow"), (80, "light-green"), (90, "green"))


def grades() -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=colour) for value, colour in GRADE_COLOURS])
    )


def score_table(
    title: str,
    expr: str,
    row: str,
    columns: Iterable[str],
    *,
    description: str,
    span: int,
    highest_first: str | None = None,
) -> table.Panel:
    """One row per `row` label value, one column per dimension (and `grade`, if the query
    gives it as a dimension), each cell coloured by its grade letter; rows by the column
    `highest_first` (any column sorts on a click)."""
    heading = row.capitalize()
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .span(span)
        .height(12)
        .unit("none")
        .decimals(1)
        .min(0)
        .max(100)
        .thresholds(grades())
        .cell_options(TableColoredBackgroundCellOptions())
        .override_by_name(
            heading, [DynamicConfigValue("custom.cellOptions", TableAutoCellOptions())]
        )
        .with_target(now_q(expr, rows=True))
        # The instant query answers one row per (row, dimension): one row per `row` instead.
        .with_transformation(
            DataTransformerConfig(
                id_val="groupingToMatrix",
                options={
                    "columnField": "dimension",
                    "rowField": row,
                    "valueField": "Value",
                    "emptyValue": "null",
                },
            )
        )
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    "indexByName": {
                        name: i for i, name in enumerate([f"{row}\\dimension", *columns])
                    },
                    "renameByName": {f"{row}\\dimension": heading},
                },
            )
        )
    )
    if highest_first:
        panel = panel.sort_by([TableSortByFieldState().display_name(highest_first).desc(True)])
    return panel


def scorecards() -> dash.Dashboard:
    grade = "max by (agency) (govhub_exchange_scorecard_grade)"
    # One agency at a time; =~ as in every dashboard (tests/deploy queries with `.*`).
    one = '{agency=~"$agency"}'
    return (
        base(
            "govhub-scorecards",
            "govhub / 数据质量评分卡 data-quality scorecards",
            "Each agency's data-quality scorecard for the last month published to hub_scorecards "
            "(docs/quality.md): its grade, its dimensions and its topics, month after month.",
        )
        # Scorecards are Asia/Shanghai months: the month shown is the one the hub closed,
        # whatever the browser's time zone; the gauges move once a month.
        .timezone("Asia/Shanghai")
        .time("now-1y", "now")
        .refresh("5m")
        .with_variable(
            label_variable(
                "agency",
                "Agency",
                "label_values(govhub_exchange_scorecard_grade, agency)",
                many=False,
            )
        )
        .with_row(dash.Row("Last month published"))
        .with_panel(
            single(
                "Month shown",
                "max(govhub_exchange_scorecard_month_timestamp_seconds != 0) * 1000",
                unit="time:YYYY-MM",
                description="The month whose scorecards the gauges hold: the hub publishes "
                "each month's on the 1st of the next (GovhubScorecardNotPublished).",
            )
            .graph_mode(BigValueGraphMode.NONE)
            .thresholds(
                dash.ThresholdsConfig()
                .mode(ThresholdsMode.ABSOLUTE)
                .steps([Threshold(value=None, color="text")])
            )
            .no_value("none published yet")
        )
        .with_panel(single("Agencies graded", f"count({grade})"))
        .with_panel(
            single(
                "Mean grade",
                f"avg({grade})",
                description="The agencies' grades, each agency counting once.",
            )
            .decimals(1)
            .thresholds(grades())
        )
        .with_panel(
            single(
                "Agencies graded E",
                f"count({grade} < 60) or vector(0)",
                description="Agencies whose grade is below 60.",
            )
        )
        .with_panel(
            bargauge.Panel()
            .title("Agencies by grade")
            .description(
                "Each agency's grade, the weighted mean of its dimensions' scores: "
                "A from 90, B 80, C 70, D 60, E below."
            )
            .datasource(DS)
            .span(12)
            .height(12)
            .unit("none")
            .decimals(1)
            .min(0)
            .max(100)
            .thresholds(grades())
            .orientation(VizOrientation.HORIZONTAL)
            .display_mode(BarGaugeDisplayMode.GRADIENT)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .with_target(now_q(f"sort_desc({grade})", "{{agency}}"))
        )
        .with_panel(
            score_table(
                "Agencies' dimensions",
                "max by (agency, dimension) (govhub_exchange_scorecard_score)"
                f' or label_replace({grade}, "dimension", "grade", "", "")',
                "agency",
                ["grade", *AGENCY_DIMENSIONS],
                description="Each agency's grade and the score of each dimension (empty: "
                "no data that month, left out of the grade).",
                span=12,
                highest_first="grade",
            )
        )
        .with_row(dash.Row("One agency: $agency"))
        .with_panel(
            graph(
                "Grade and dimensions of $agency",
                [
                    (f"max(govhub_exchange_scorecard_grade{one})", "grade"),
                    (
                        f"max by (dimension) (govhub_exchange_scorecard_score{one})",
                        "{{dimension}}",
                    ),
                ],
                unit="none",
                span=24,
                description="Month after month: each value holds from the day its month "
                "was published until the next.",
            )
            .max(100)
            .fill_opacity(0)
            .line_interpolation(LineInterpolation.STEP_AFTER)
        )
        .with_panel(
            score_table(
                "Topics of $agency",
                f"max by (topic, dimension) (govhub_exchange_scorecard_topic_score{one})",
                "topic",
                DIMENSIONS,
                description="The score of each dimension of each topic $agency publishes, "
                "for the last month published.",
                span=24,
            )
        )
    )


DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "overview": overview,
    "exchange": exchange,
    "warnings": warnings,
    "sms": sms,
    "scorecards": scorecards,
}


def render(builder: dash.Dashboard) -> str:
    model = builder.build()
    for panel_id, panel in enumerate(_all_panels(model.panels or []), start=1):
        panel.id_val = panel_id
    return JSONEncoder(sort_keys=True, indent=2).encode(model) + "\n"


def _all_panels(panels: list) -> list:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(getattr(panel, "panels", None) or [])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the checked-in JSON is stale"
    )
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)

    installed = importlib.metadata.version("grafana-foundation-sdk")
    if installed != SDK_VERSION:
        print(
            f"warning: grafana-foundation-sdk {installed} installed; the dashboards are "
            f"generated with {SDK_VERSION}",
            file=sys.stderr,
        )

    wanted = {f"{name}.json": render(build()) for name, build in DASHBOARDS.items()}
    if args.check:
        stale = [
            name
            for name, text in wanted.items()
            if not (args.out_dir / name).is_file()
            or (args.out_dir / name).read_text(encoding="utf-8") != text
        ]
        extra = sorted(p.name for p in args.out_dir.glob("*.json") if p.name not in wanted)
        for name in stale:
            print(f"stale: {args.out_dir / name}", file=sys.stderr)
        for name in extra:
            print(f"not generated by this script: {args.out_dir / name}", file=sys.stderr)
        if stale or extra:
            print(
                "run: uv run --with 'grafana-foundation-sdk==" + SDK_VERSION + "' "
                "python deploy/dashboards/generate.py",
                file=sys.stderr,
            )
            return 1
        print(f"{len(wanted)} dashboards up to date")
        return 0

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        (args.out_dir / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
