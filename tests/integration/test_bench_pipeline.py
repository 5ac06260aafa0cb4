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
    assert set(rates) == {"aiokafka_fast", "faust_tuned", "faust_shell", "aiokafka_loop", "faust_forward", "facegate"}
    assert all(v > 0 for v in rates.values()) and set(result["settings"]) == set(rates)
    assert (
        result["records_written_per_input"]["facegate"] == 2 and result["records_written_per_input"]["faust_tuned"] == 1
    )
    assert result["facegate_worker_rss_bytes"] > 0 and result["record_bytes"] > 2048
    assert result["facegate_cpu_seconds_per_1000"] > 0
    assert "c/b' =" in markdown(result) and "c/b'' =" in markdown(result)
