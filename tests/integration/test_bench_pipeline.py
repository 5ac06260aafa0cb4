"""The pipeline benchmark runs end to end on the session's broker (a small run; no time asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pipeline import markdown, run
from gateway.brokers.apache_kafka import KafkaBroker

pytestmark = pytest.mark.kafka


def test_pipeline_benchmark_measures_all_three(kafka: KafkaBroker, tmp_path: Path) -> None:
    result = run(300, kafka.bootstrap_servers, tmp_path)
    rates = result["events_per_second"]
    assert set(rates) == {"aiokafka_loop", "faust_forward", "facegate"} and all(v > 0 for v in rates.values())
    assert result["facegate_worker_rss_bytes"] > 0 and result["record_bytes"] > 2048
    assert "c/b =" in markdown(result)
