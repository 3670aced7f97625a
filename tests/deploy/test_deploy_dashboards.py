"""Grafana dashboards: generated from deploy/dashboards/generate.py, checked in up to date,
and showing what operators look for."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.deploy.support import CHART, ROOT, missing_tool

GENERATOR = ROOT / "deploy" / "dashboards" / "generate.py"
DASHBOARDS = CHART / "dashboards"


def sdk_pin() -> str:
    match = re.search(r'^SDK_VERSION = "([^"]+)"', GENERATOR.read_text(encoding="utf-8"), re.M)
    assert match, "generate.py lost its SDK_VERSION pin"
    return match.group(1)


def generator_command() -> list[str]:
    """The generator under the pinned SDK: in this interpreter if it has the SDK (once it is
    in the dev group), else in a throwaway environment that uv builds from PyPI."""
    if importlib.util.find_spec("grafana_foundation_sdk") is not None:
        return [sys.executable, str(GENERATOR)]
    uv = shutil.which("uv")
    if uv is None:
        missing_tool("neither grafana-foundation-sdk nor uv is installed")
    assert uv is not None
    return [
        uv,
        "run",
        "--no-project",
        "--with",
        f"grafana-foundation-sdk=={sdk_pin()}",
        "python",
        str(GENERATOR),
    ]


def load(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / f"{name}.json").read_text(encoding="utf-8"))


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return [p for p in out if p["type"] != "row"]


def exprs(board: dict[str, Any]) -> str:
    return "\n".join(t["expr"] for p in panels(board) for t in p.get("targets", []))


def test_checked_in_dashboards_are_up_to_date() -> None:
    result = subprocess.run(
        [*generator_command(), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_mode_detects_a_stale_file(tmp_path) -> None:
    for path in DASHBOARDS.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    stale = tmp_path / "sms.json"
    stale.write_text(
        stale.read_text(encoding="utf-8").replace("Queue depth", "Queue"), encoding="utf-8"
    )
    result = subprocess.run(
        [*generator_command(), "--check", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 1 and "sms.json" in result.stderr


@pytest.mark.parametrize("name", ["overview", "exchange", "warnings", "sms", "scorecards"])
def test_dashboard_is_importable_anywhere(name: str) -> None:
    board = load(name)
    assert board["uid"] == f"govhub-{name}" and board["title"].startswith("govhub / ")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        assert panel["targets"], f"{name}: panel {panel['title']} has no query"
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_overview_shows_rate_errors_duration_per_service() -> None:
    text = exprs(load("overview"))
    assert "sum by (service) (rate(govhub_http_requests_total" in text
    assert 'status=~"5.."' in text
    assert (
        "histogram_quantile(0.95, sum by (le, service) (rate(govhub_http_request_duration_seconds_bucket"
        in text
    )
    # The job comes from the `job` variable, never written into a query.
    assert 'up{job="$job"}' in text and 'job="govhub"' not in text
    assert "govhub_bus_connected" in text


def test_exchange_dashboard() -> None:
    text = exprs(load("exchange"))
    assert "sum by (topic) (rate(govhub_exchange_records_published_total" in text
    assert "sum by (topic) (rate(govhub_exchange_records_rejected_total" in text
    assert "govhub_exchange_delivery_latency_seconds_bucket" in text
    assert "govhub_exchange_subscription_lag_seconds" in text
    assert (
        "govhub_exchange_webhook_dead_letters" in text and "govhub_bus_dead_letters_total" in text
    )


def test_warnings_dashboard() -> None:
    text = exprs(load("warnings"))
    assert "sum by (rule) (increase(govhub_alerting_warnings_raised_total" in text
    assert "govhub_alerting_warnings_resolved_total" in text
    assert "sum by (agency) (govhub_alerting_warnings_open" in text
    assert "govhub_alerting_follow_up_ratio" in text


def test_sms_dashboard() -> None:
    text = exprs(load("sms"))
    for counter in ("sent", "delivered", "failed"):
        assert f"sum by (provider) (rate(govhub_sms_messages_{counter}_total" in text
    assert "govhub_sms_delivery_report_seconds_bucket" in text
    assert "govhub_sms_queue_depth" in text


def test_scorecards_dashboard() -> None:
    board = load("scorecards")
    by_title = {p["title"]: p for p in panels(board)}
    grades = [
        (step["value"], step["color"])
        for step in by_title["Agencies by grade"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    ]
    # The letters of docs/quality.md: E below 60, then D, C, B, A from 90.
    assert [value for value, _ in grades] == [None, 60, 70, 80, 90]

    # The ranking: every agency's grade, best first (sort_desc keeps its order in an
    # instant query only).
    ranking = by_title["Agencies by grade"]["targets"][0]
    assert ranking["expr"] == "sort_desc(max by (agency) (govhub_exchange_scorecard_grade))"
    assert ranking["instant"] is True

    # Every agency with its grade and six dimensions as columns.
    table = by_title["Agencies' dimensions"]
    assert (
        "max by (agency, dimension) (govhub_exchange_scorecard_score)"
        in table["targets"][0]["expr"]
    )
    matrix, organize = table["transformations"]
    assert matrix["id"] == "groupingToMatrix"
    assert (matrix["options"]["rowField"], matrix["options"]["columnField"]) == (
        "agency",
        "dimension",
    )
    columns = sorted(organize["options"]["indexByName"], key=organize["options"]["indexByName"].get)
    assert columns == [
        "agency\\dimension",
        "grade",
        "timeliness",
        "validity",
        "uniqueness",
        "consistency",
        "completeness",
        "responsiveness",
    ]

    # One agency at a time, chosen from the agencies graded.
    variables = {v["name"]: v for v in board["templating"]["list"]}
    agency = variables["agency"]
    assert agency["query"] == "label_values(govhub_exchange_scorecard_grade, agency)"
    assert agency["multi"] is False and agency["includeAll"] is False
    over_time = exprs({"panels": [by_title["Grade and dimensions of $agency"]]})
    assert 'max by (dimension) (govhub_exchange_scorecard_score{agency=~"$agency"})' in over_time
    assert 'max(govhub_exchange_scorecard_grade{agency=~"$agency"})' in over_time
    topics = by_title["Topics of $agency"]["targets"][0]["expr"]
    assert topics == (
        'max by (topic, dimension) (govhub_exchange_scorecard_topic_score{agency=~"$agency"})'
    )

    # The month the gauges hold, as a month (milliseconds for Grafana), in Asia/Shanghai
    # whatever the browser's zone; 0 (nothing published yet) is no month.
    month = by_title["Month shown"]
    assert month["targets"][0]["expr"] == (
        "max(govhub_exchange_scorecard_month_timestamp_seconds != 0) * 1000"
    )
    assert month["fieldConfig"]["defaults"]["unit"] == "time:YYYY-MM"
    assert board["timezone"] == "Asia/Shanghai"
