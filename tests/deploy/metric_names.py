"""Metric names that govhub's dashboards and alert rules query, and those docs/metrics.md
documents.

`queried_metric_names()` is meant for a later test that scrapes a running hub and checks
that it exports every name the dashboards and alerts depend on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "helm" / "govhub" / "dashboards"
RULES = ROOT / "helm" / "govhub" / "rules"
METRICS_DOC = ROOT / "docs" / "metrics.md"

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME = re.compile(r"(?<![A-Za-z0-9_:])(govhub_[A-Za-z0-9_:]*)")
_DOC_ROW = re.compile(r"^\|\s*`?(govhub_[a-z0-9_]+)`?\s*\|\s*([a-z]+)\s*\|", re.MULTILINE)


def documented_metrics() -> dict[str, str]:
    """Every metric of docs/metrics.md, name -> type (counter, gauge, histogram)."""
    return dict(_DOC_ROW.findall(METRICS_DOC.read_text(encoding="utf-8")))


def names_in_expr(expr: str) -> set[str]:
    """govhub_* series names in a PromQL expression, raw (with any _bucket suffix).

    String literals are removed first, so a label value such as job="govhub_x" is no name.
    """
    return set(_NAME.findall(_STRING.sub('""', expr)))


def family(name: str, documented: dict[str, str] | None = None) -> str:
    """The metric family of a series name: histogram suffixes stripped."""
    documented = documented_metrics() if documented is None else documented
    if name in documented:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and documented.get(name.removesuffix(suffix)) == "histogram":
            return name.removesuffix(suffix)
    for suffix in HISTOGRAM_SUFFIXES:  # undocumented: strip anyway, the test reports it
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable of every dashboard."""
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        panels = list(board.get("panels", []))
        while panels:
            panel = panels.pop(0)
            panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield f"{path.name}: {panel.get('title')}", target["expr"]
        for var in board.get("templating", {}).get("list", []):
            query = var.get("query")
            if var.get("type") == "query" and isinstance(query, str):
                yield f"{path.name}: variable {var['name']}", query


def rule_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every alerting and recording rule."""
    for path in sorted(RULES.glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                yield f"{path.name}: {name}", str(rule["expr"])


def queried_series() -> dict[str, set[str]]:
    """Raw series name -> where it is queried."""
    found: dict[str, set[str]] = {}
    for where, expr in [*dashboard_queries(), *rule_queries()]:
        for name in names_in_expr(expr):
            found.setdefault(name, set()).add(where)
    return found


def queried_metric_names() -> set[str]:
    """Every metric family a dashboard panel or an alert rule queries (govhub_* only;
    histogram _bucket/_sum/_count folded into the family name)."""
    documented = documented_metrics() if METRICS_DOC.exists() else {}
    return {family(name, documented) for name in queried_series()}
