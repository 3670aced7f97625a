"""Shared helpers of the deployment tests: rendering the chart with Helm's own engine.

(Not named conftest.py: tests/conftest.py already claims the module name `conftest`.)

Helm runs in-process through helm-python-sdk (a wheel bundling libhelm_c, Helm's Go SDK
behind a C ABI): no helm binary, no cluster, no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from govhub_common.testing import in_ci

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHART = ROOT / "helm" / "govhub"
VALUES_FILES = {
    "default": None,
    "allinone": CHART / "ci" / "allinone-values.yaml",
    "ha": CHART / "values-ha.yaml",
}
RELEASE = "gh"
NAMESPACE = "govhub"
KUBE_VERSION = "1.30.0"


def missing_tool(reason: str) -> None:
    """Skip locally, fail under CI: CI must never skip a deployment check."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this check may not be skipped)", pytrace=False)
    pytest.skip(reason)


def load_values(name: str) -> dict[str, Any]:
    path = VALUES_FILES[name]
    if path is None:
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Render the chart as `helm template gh helm/govhub -n govhub` would, as objects."""
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append({**doc, "_template": path})
    return objects


def notes(values: dict[str, Any] | None = None) -> str:
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def component(obj: dict[str, Any]) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]
