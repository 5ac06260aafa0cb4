"""The chart's PrometheusRule, evaluated by promtool (scripts/install builds it): every alert fires
on the series it is meant for and stays silent on the others (alerts_test.yaml)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import CHART, VALUE_SETS, of_kind, rendered, tool, values_of
from tests.support.markdown import anchors

HERE = Path(__file__).resolve().parent
OPERATIONS = HERE.parents[1] / "docs" / "operations.md"
UNIT_TESTS = HERE / "alerts_test.yaml"
VALUE_SET = "production-values.yaml"  # release "rel", the default thresholds: what alerts_test.yaml assumes


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("promtool")), *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


def alerting_rules(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    [rule] = of_kind(docs, "PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r}


@pytest.mark.parametrize("value_set", [v for v in VALUE_SETS if values_of(v)["prometheusRule"]["enabled"]])
def test_the_rendered_rules_are_valid_prometheus_rules(value_set: str, tmp_path: Path) -> None:
    docs = rendered(value_set)
    for n, rule in enumerate(of_kind(docs, "PrometheusRule")):
        (tmp_path / f"rules-{n}.yaml").write_text(yaml.safe_dump(rule["spec"]))
        result = promtool("check", "rules", "--lint=all", "--lint-fatal", f"rules-{n}.yaml", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    docs = rendered(VALUE_SET)
    [rule] = of_kind(docs, "PrometheusRule")
    rules = alerting_rules(docs)
    unit_tests = yaml.safe_load(UNIT_TESTS.read_text())

    cases = [case for group in unit_tests["tests"] for case in group["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert firing == set(rules) and silent == set(rules), "each alert: a case that fires and one that does not"

    for case in cases:  # annotations are plain text in these rules: expected as rendered
        for alert in case.get("exp_alerts", []):
            alert.setdefault("exp_annotations", rules[case["alertname"]]["annotations"])

    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(unit_tests, sort_keys=False))
    result = promtool("test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_counter_starts_at_0_as_the_worker_exports_it() -> None:
    """The worker exports the counters the alerts read at 0 from its start (GatewayMetrics.declare;
    kube-state-metrics its restarts likewise): a case whose counter is born above 0 tests a series
    no exporter sends, on which increase() and rate() miss the first increment."""
    for group in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for series in group["input_series"]:
            if series["series"].split("{")[0].endswith("_total"):
                first = next(v for v in series["values"].split() if not v.startswith("_"))
                assert re.match(r"0(?![.\d])", first), (group["name"], series["series"])


def test_the_thresholds_are_the_values() -> None:
    """alerts_test.yaml is written for the default thresholds; other values reach the expressions."""
    default = alerting_rules(rendered(VALUE_SET))
    assert "> 10000" in default["FaceGateConsumerLag"]["expr"]
    assert "> 0.05" in default["FaceGateRejectionRate"]["expr"] and "> 0.5" in default["FaceGateBlockedRate"]["expr"]
    changed = alerting_rules(
        rendered(
            VALUE_SET, "--set", "prometheusRule.lagThreshold=500", "--set-json", "prometheusRule.rejectionRatio=0.2"
        )
    )
    assert "> 500" in changed["FaceGateConsumerLag"]["expr"] and "> 0.2" in changed["FaceGateRejectionRate"]["expr"]


def test_no_worker_reporting_alerts_unless_keda_may_scale_to_zero() -> None:
    assert "absent(facegate_ready" in alerting_rules(rendered(VALUE_SET))["FaceGateNotReady"]["expr"]
    to_zero = alerting_rules(rendered(VALUE_SET, "--set", "keda.minReplicas=0"))
    assert "absent(" not in to_zero["FaceGateNotReady"]["expr"]


@pytest.mark.parametrize("value_set", [v for v in VALUE_SETS if values_of(v)["prometheusRule"]["enabled"]])
def test_every_alert_links_its_runbook_in_the_operations_guide(value_set: str) -> None:
    """Its runbook_url: the repository's docs/operations.md by default, at a heading named as the
    alert (its section under "Alerts"), which says what it means, what to check and what to do."""
    home = yaml.safe_load((CHART / "Chart.yaml").read_text())["home"]
    headings = anchors(OPERATIONS.read_text())
    rules = alerting_rules(rendered(value_set))
    assert rules
    for name, rule in rules.items():
        page, _, anchor = rule["annotations"].get("runbook_url", "").partition("#")
        assert page == f"{home}/blob/main/docs/operations.md", name
        assert anchor == name.lower() and anchor in headings, name
    # The exit codes FaceGateWorkerErrors names are docs/cli.md's.
    assert f"{home}/blob/main/docs/cli.md#exit-codes" in rules["FaceGateWorkerErrors"]["annotations"]["description"]
    assert "exit-codes" in anchors((OPERATIONS.parent / "cli.md").read_text())


def test_the_runbooks_move_with_the_docs_base_url() -> None:
    moved = alerting_rules(rendered(VALUE_SET, "--set", "prometheusRule.docsBaseUrl=https://wiki.example/facegate/"))
    for name, rule in moved.items():
        assert rule["annotations"]["runbook_url"] == f"https://wiki.example/facegate/operations.md#{name.lower()}"


def test_no_alert_points_at_what_no_tool_reads() -> None:
    """The dead-letter topic is Avro in the gateway's codec and no command reads it: the alerts name
    the audit stream, which holds the same reasons."""
    for name, rule in alerting_rules(rendered(VALUE_SET)).items():
        assert "facegate.rejected" not in " ".join(rule["annotations"].values()), name
