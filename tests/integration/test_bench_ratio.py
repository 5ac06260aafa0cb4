"""bench.ratio runs its pairs end to end on the session's broker (a small run; no time asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ratio import markdown, run
from gateway.brokers.apache_kafka import KafkaBroker

pytestmark = pytest.mark.kafka


@pytest.mark.timeout(600)
def test_each_turn_measures_both_tuned_forwarders_then_facegate(kafka: KafkaBroker, tmp_path: Path) -> None:
    result = run(300, 60, 2, kafka.bootstrap_servers, tmp_path)
    assert len(result["pairs"]) == 2
    for pair in result["pairs"]:
        assert pair["faust_tuned"] > 0 and pair["faust_shell"] > 0 and pair["facegate"] > 0
        # The ratio is over the faster forwarder of the turn: a baseline at its best.
        assert pair["ratio"] == pair["facegate"] / max(pair["faust_tuned"], pair["faust_shell"])
    ratios = sorted(p["ratio"] for p in result["pairs"])
    assert (result["ratio_min"], result["ratio_max"]) == (ratios[0], ratios[-1])
    assert "take_events(1000)" in result["baseline_settings"]["faust_tuned"] and "| 2 |" in markdown(result)
    assert "fetching" in result["baseline_settings"]["faust_shell"]
