"""The withdrawal benchmark runs end to end on the session's broker (a small run; no time asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.withdrawal import markdown, run
from gateway.brokers.apache_kafka import KafkaBroker

pytestmark = pytest.mark.kafka


def test_withdrawal_benchmark_measures_erasure_and_enforcement(kafka: KafkaBroker, tmp_path: Path) -> None:
    result = run(3, kafka.bootstrap_servers, tmp_path)
    assert result["withdrawals"] == 3 and result["probes_forwarded_before_withdrawal"] >= 3
    assert result["erasure_ms"]["p50"] > 0 and result["erasure_ms"]["max"] >= result["erasure_ms"]["p99"]
    assert "ERASED audit" in markdown(result)
