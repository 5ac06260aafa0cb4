"""The Grafana dashboard shipped with the chart: a ConfigMap for Grafana's sidecar holding
dashboards/facegate.json, whose queries are valid PromQL over metrics the worker declares.
(tests/integration/test_dashboard.py checks the same names against a running worker.)"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from tests.support.chart import CHART, VALUE_SETS, of_kind, rendered, tool, values_of
from tests.support.promql import (
    OTHER_EXPORTERS,
    dashboard_queries,
    exported_names,
    metric_names,
    name_patterns,
    selector,
)

DASHBOARD_FILE = CHART / "dashboards" / "facegate.json"
DASHBOARD_SETS = [v for v in VALUE_SETS if values_of(v)["grafanaDashboard"]["enabled"]]
BUILT_IN_VARIABLES = {"__rate_interval", "__interval", "__range"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text())
    return loaded


def dashboard_configmaps(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in of_kind(docs, "ConfigMap") if "facegate.json" in c.get("data", {})]


def declared_by_the_worker() -> set[str]:
    """What the worker's registry declares by default: its own metrics and what it reads when
    scraped, not Faust's own sensor (only with FACEGATE_FAUST_METRICS, which the dashboard must
    not need)."""
    import faust

    from gateway.shell.metrics import GatewayMetrics, register_scraped

    metrics = GatewayMetrics()
    register_scraped(metrics.registry, faust.App("declared", broker="kafka://127.0.0.1:1"), set, dict)
    return exported_names(generate_latest(metrics.registry).decode())


def test_only_value_sets_that_enable_it_render_the_dashboard() -> None:
    assert DASHBOARD_SETS
    for value_set in VALUE_SETS:
        assert bool(dashboard_configmaps(rendered(value_set))) is (value_set in DASHBOARD_SETS)


@pytest.mark.parametrize("value_set", DASHBOARD_SETS)
def test_the_configmap_is_labelled_for_the_sidecar(value_set: str) -> None:
    settings = values_of(value_set)["grafanaDashboard"]
    [configmap] = dashboard_configmaps(rendered(value_set))
    meta = configmap["metadata"]
    assert meta["labels"][settings["label"]] == settings["labelValue"]
    assert meta["namespace"] == (settings["namespace"] or "facegate")
    assert meta.get("annotations", {}) == settings["annotations"]
    assert json.loads(configmap["data"]["facegate.json"]) == dashboard(), "the chart's file, unchanged"


def test_the_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] == "facegate-overview" and board["title"] == "FaceGate"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"] for v in board["templating"]["list"]}
    assert variables == {"datasource", "job", "tenant"}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert panel.get("description"), panel["title"]
    for where, query in dashboard_queries(board):
        used = set(re.findall(r"\$\{?(\w+)", query))
        assert used <= variables | BUILT_IN_VARIABLES, (where, used)
        assert "$job" in query or where == "variable job", f"{where}: every query is scoped to the chosen job"


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (Grafana's variables replaced by what Grafana would put there)."""
    substitutions = {"$__rate_interval": "2m", "$__interval": "1m", "$__range": "6h", "$job": ".*", "$tenant": ".*"}
    rules = []
    for n, (_, query) in enumerate(dashboard_queries(dashboard())):
        expr = selector(query)
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"facegate:dashboard_query_{n}", "expr": expr})
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [str(tool("promtool")), "check", "rules", "--lint=none", "queries.yaml"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_reads_only_metrics_the_worker_declares() -> None:
    declared = declared_by_the_worker()
    used: set[str] = set()
    for where, query in dashboard_queries(dashboard()):
        names = metric_names(selector(query))
        assert names <= declared, (where, names - declared)
        for pattern in name_patterns(query):
            assert any(re.fullmatch(pattern, name) for name in declared), (where, pattern)
        used |= names
    # What the dashboard is for: decisions, rules, alerts, duplicates, latency, readiness, state.
    assert {
        "facegate_decisions_total", "facegate_rule_citations_total", "facegate_alerts_total",
        "facegate_duplicates_dropped_total", "facegate_decision_seconds_bucket", "facegate_ready",
        "facegate_enrolled_subjects", "facegate_registry_records_ignored", "facegate_input_end_offset",
        "facegate_input_committed_offset",
    } <= used  # fmt: skip


def test_the_alerts_read_the_worker_or_the_named_exporters() -> None:
    declared = declared_by_the_worker()
    [rule] = of_kind(rendered("production-values.yaml"), "PrometheusRule")
    for alert in (r for group in rule["spec"]["groups"] for r in group["rules"]):
        names = metric_names(alert["expr"])
        assert names and names <= declared | set(OTHER_EXPORTERS), (alert["alert"], names - declared)
