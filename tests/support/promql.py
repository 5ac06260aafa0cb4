"""The metric names a PromQL expression (or a Grafana panel or variable query) reads, and the
sample names a Prometheus text exposition exports, so the two can be compared.

Not a PromQL parser: a tokenizer that knows what else an identifier can be (a function, an
aggregation, a keyword, a label in by/without/on/ignoring/group_left/group_right, a label in a
matcher, a duration), which is all the chart's queries use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# What each metric type's samples are called in the text exposition (prometheus_client adds
# _created to counters and histograms; Prometheus ingests those as their own series).
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"), "summary": ("_sum", "_count", "_created")}  # fmt: skip

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_:][A-Za-z0-9_:]*|\S")
_NAME_MATCHER = re.compile(r'__name__\s*(?P<op>=~|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"')
_GRAFANA_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.S)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects by name (`x`, `x{...}`, `x[5m]`, `{__name__="x"}`)."""
    names = {m["value"] for m in _NAME_MATCHER.finditer(expr) if m["op"] == "="}
    text = _STRING.sub('""', expr)
    text = re.sub(r"#[^\n]*", " ", text)  # comments
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers, strings already blanked
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries, Grafana's $__rate_interval
    text = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", text)
    tokens = _TOKEN.findall(text)
    skip_list = False
    depth = 0
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if skip_list:  # inside by (...), on (...), ...: label names
            depth += token == "("
            depth -= token == ")"
            skip_list = depth > 0
            continue
        if not re.match(r"[A-Za-z_:]", token) or token.startswith("$"):
            continue
        if token in LABEL_LISTS:
            skip_list = following == "("
            depth = 0
            continue
        if following == "(" or token in AGGREGATIONS or token.lower() in KEYWORDS:
            continue  # a function, an aggregation, a keyword
        names.add(token)
    return names


def name_patterns(expr: str) -> set[str]:
    """Regular expressions an expression selects metric names by (`{__name__=~"..."}`)."""
    return {m["value"].replace("\\\\", "\\") for m in _NAME_MATCHER.finditer(expr) if m["op"] == "=~"}


def selector(query: str) -> str:
    """The PromQL of a query: Grafana's label_values(selector, label) is its selector."""
    match = _GRAFANA_LABEL_VALUES.match(query)
    return match["selector"] if match else query


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, query) for every panel target and every query variable of a Grafana dashboard."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))  # collapsed rows hold their panels

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target.get('refId')}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            yield f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query


def exported_names(exposition: str) -> set[str]:
    """The sample names a text exposition declares (# TYPE), by the rules of each metric type: a
    labelled metric is declared before its first sample, which may never come in a short run."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(maxsplit=3)
            base = family.removesuffix("_total") if kind == "counter" else family
            names.update(base + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


def sampled_names(exposition: str) -> set[str]:
    """Sample names that carry at least one value."""
    return {re.split(r"[{\s]", line, maxsplit=1)[0] for line in exposition.splitlines() if line and line[0] != "#"}


# Metrics the chart's alerts take from other exporters, not from the worker.
OTHER_EXPORTERS = {
    "kafka_consumergroup_lag": "kafka-exporter (the lag of the whole consumer group)",
    "kube_pod_container_status_restarts_total": "kube-state-metrics (restarts of the worker containers)",
}
