"""The chart's Grafana dashboard and PrometheusRule read what a running worker exports.

A worker on the session's Apache Kafka decides a stream of captures (every kind of the simulated
day, malformed ones and repeats included); then every metric name in every dashboard query and
every alert expression must be one its /metrics exports, with samples, but the metrics the
alerts take from other exporters (kafka-exporter, kube-state-metrics), which are named. The
alerts are read as helm renders them (scripts/install builds helm)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.brokers.process import BrokerError
from gateway.sdk.scenario import Traffic
from gateway.shell.local import LocalWorker
from tests.support.chart import CHART, of_kind, rendered
from tests.support.deployment import Deployment
from tests.support.kafka import Unique
from tests.support.promql import (
    OTHER_EXPORTERS,
    dashboard_queries,
    exported_names,
    metric_names,
    name_patterns,
    sampled_names,
    selector,
)

pytestmark = pytest.mark.kafka


def dashboard_selectors() -> Iterator[tuple[str, set[str], set[str]]]:
    """(where, metric names, name patterns) of every dashboard query."""
    board = json.loads((CHART / "dashboards" / "facegate.json").read_text())
    for where, query in dashboard_queries(board):
        yield where, metric_names(selector(query)), name_patterns(query)


def alert_expressions() -> dict[str, str]:
    """The alerts' expressions, as helm renders the chart's PrometheusRule."""
    [rule] = of_kind(rendered("production-values.yaml"), "PrometheusRule")
    return {r["alert"]: r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]}


def scrape(worker: LocalWorker) -> str:
    status, text = worker.get("/metrics")
    assert status == 200, status
    return text


def missing_samples(text: str) -> list[str]:
    """Dashboard selectors with no sample yet (counters with labels appear with their first
    increment, Faust's offsets with its first commit)."""
    sampled = sampled_names(text)
    missing = []
    for where, names, patterns in dashboard_selectors():
        missing += [f"{where}: {name}" for name in sorted(names - sampled)]
        missing += [f"{where}: {p}" for p in sorted(patterns) if not any(re.fullmatch(p, n) for n in sampled)]
    return missing


def test_the_dashboard_and_the_alerts_read_what_a_running_worker_exports(
    kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    d = Deployment(kafka, unique, tmp_path)
    worker = d.start_worker()
    asyncio.run(d.publish_world(worker))
    items = Traffic(d.world, seed=23).take(400)
    repeats = [item for item in items if item.capture is not None][:25]
    asyncio.run(d.send(items + repeats))
    worker.wait_until(
        lambda: (
            worker.metric("facegate_decisions_total") >= len(items)
            and worker.metric("facegate_duplicates_dropped_total") >= len(repeats)
        ),
        120,
        "every capture decided, every repeat dropped",
    )
    missing: list[str] = []

    def every_dashboard_metric_sampled() -> bool:
        missing[:] = missing_samples(scrape(worker))
        return not missing

    try:
        worker.wait_until(every_dashboard_metric_sampled, 60, "a sample of every dashboard metric")
    except BrokerError as exc:
        raise AssertionError(f"the worker exports no sample of: {missing}\n{exc}") from None
    text = scrape(worker)
    exported, sampled = exported_names(text), sampled_names(text)
    # The web port serves the documented endpoints; Faust's router (every worker's topics, so every
    # tenant and vendor id) is not among them.
    assert worker.get("/router/")[0] == 404 and worker.get("/healthz")[0] == 200

    for where, names, patterns in dashboard_selectors():
        assert names <= sampled, f"{where}: {sorted(names - exported)} not exported"
        for pattern in patterns:
            assert any(re.fullmatch(pattern, name) for name in sampled), f"{where}: nothing matches {pattern}"

    alerts = alert_expressions()
    assert len(alerts) >= 6
    for alert, expr in alerts.items():
        names = metric_names(expr)
        assert names, alert
        assert names <= exported | set(OTHER_EXPORTERS), f"{alert}: {sorted(names - exported)} not exported"
    # The worker's own metrics in the alerts have samples too (no labelled counter left unborn).
    own = {name for expr in alerts.values() for name in metric_names(expr)} - set(OTHER_EXPORTERS)
    assert own <= sampled, sorted(own - sampled)
    assert d.stop_all() == [0]
