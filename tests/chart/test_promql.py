"""The metric-name extraction the dashboard and alert checks rely on."""

from __future__ import annotations

import pytest

from tests.support.promql import exported_names, metric_names, name_patterns, sampled_names, selector


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        (
            'sum by (tenant, decision) (rate(facegate_decisions_total{job=~"$job"}[$__rate_interval]))',
            {"facegate_decisions_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(facegate_decision_seconds_bucket[5m])))",
            {"facegate_decision_seconds_bucket"},
        ),
        ('sum(rate(a_total{decision="REJECTED"}[10m])) / clamp_min(sum(rate(a_total[10m])), 1e-9) > 0.05', {"a_total"}),
        ('min(facegate_ready{job="x"}) < 1 or absent(facegate_ready{job="x"})', {"facegate_ready"}),
        ("topk(10, sum without (instance) (x)) and on (job) group_left (pod) y offset 5m", {"x", "y"}),
        ('increase(k{pod=~"rel-.*", container="worker"}[15m]) > 2', {"k"}),
        ('sum(x{label="by (y) sum(z)"})', {"x"}),  # strings are not parsed
        ('{__name__="x", job="j"} - {__name__=~"(.+_)?y"}', {"x"}),
        ("max by (tenant) (g) # a comment naming h", {"g"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_name_patterns_and_grafana_variable_queries() -> None:
    assert name_patterns('{__name__=~"(.+_)?topic_partition_end_offset", job=~"$job"}') == {
        "(.+_)?topic_partition_end_offset"
    }
    assert selector('label_values(facegate_decisions_total{job=~"$job"}, tenant)') == (
        'facegate_decisions_total{job=~"$job"}'
    )
    assert metric_names(selector("label_values(facegate_ready, job)")) == {"facegate_ready"}


def test_exported_names_follow_each_metric_type() -> None:
    exposition = "\n".join([
        "# HELP c_total Decisions.", "# TYPE c_total counter",
        "# HELP h Latency.", "# TYPE h histogram", 'h_bucket{le="+Inf"} 1.0', "h_count 1.0", "h_sum 0.5",
        "# HELP g Ready.", "# TYPE g gauge", "g 1.0",
    ])  # fmt: skip
    assert exported_names(exposition) == {
        "c_total", "c_created", "h_bucket", "h_count", "h_sum", "h_created", "g",
    }  # fmt: skip
    assert sampled_names(exposition) == {"h_bucket", "h_count", "h_sum", "g"}  # c_total has no labelled child yet
