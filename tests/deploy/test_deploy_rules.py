"""Alert rules: valid for Prometheus, and each fires when it should and only then."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import CHART, HERE, ROOT, missing_tool

RULES = CHART / "rules" / "govhub-alerts.yaml"
RULE_TESTS = HERE / "promtool" / "govhub-alerts.test.yaml"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing_tool(
            "promtool not found: install it with `bash .ci/deploy-tools.sh` "
            "(Debian package prometheus)"
        )
    assert path is not None
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_pass_promtool_check(promtool: str) -> None:
    result = run(promtool, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_pass_promtool_unit_tests(promtool: str) -> None:
    result = run(promtool, "test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    import yaml

    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    fired: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            if check.get("exp_alerts"):
                fired.add(check["alertname"])
    assert fired == alerts, f"alerts without a firing case: {sorted(alerts - fired)}"
    # The unit tests load the very file the PrometheusRule embeds.
    assert (RULE_TESTS.parent / tests["rule_files"][0]).resolve() == RULES.resolve()


def test_unit_tests_catch_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    # Guard against tests that pass whatever the rules say: a 5xx threshold of 50%
    # must make the unit tests fail.
    broken = RULES.read_text(encoding="utf-8").replace("> 0.05", "> 0.5")
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "govhub-alerts.yaml").write_text(broken, encoding="utf-8")
    tests = RULE_TESTS.read_text(encoding="utf-8").replace(
        "../../../helm/govhub/rules/govhub-alerts.yaml", "rules/govhub-alerts.yaml"
    )
    (tmp_path / "t.yaml").write_text(tests, encoding="utf-8")
    result = run(promtool, "test", "rules", tmp_path / "t.yaml")
    assert result.returncode != 0
    assert "GovhubHigh5xxRatio" in result.stdout + result.stderr


def test_every_alert_links_its_runbook() -> None:
    import re

    import yaml

    home = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))["home"]
    base = f"{home}/blob/main/docs/operations.md"
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    # GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes.
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", operations, re.MULTILINE)
    }
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 14
    for alert in alerts:
        url = alert["annotations"].get("runbook_url", "")
        assert url == f"{base}#{alert['alert'].lower()}", alert["alert"]
        assert url.split("#", 1)[1] in anchors, f"no runbook section for {alert['alert']}"
        section = operations.split(f"## {alert['alert']}\n", 1)[1].split("\n## ", 1)[0]
        assert "**Means.**" in section and "ix.**" in section, alert["alert"]


def test_no_alert_hard_codes_a_job_the_chart_cannot_replace() -> None:
    # The PrometheusRule template swaps job="govhub" for metrics.serviceMonitor.jobName:
    # any other spelling of a job matcher would escape it.
    text = RULES.read_text(encoding="utf-8")
    import re

    assert set(re.findall(r"job\s*=~?\s*\"[^\"]*\"", text)) == {'job="govhub"'}
