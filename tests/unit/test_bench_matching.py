"""The 1:N benchmark runs end to end on a small index and identifies enrolled people (no timing asserted)."""

from __future__ import annotations

from bench.matching import markdown, measure


def test_matching_benchmark_reports_speed_memory_and_identification() -> None:
    row = measure(500, batches=2)
    assert row["enrolled"] == 500 and row["code_bytes"] == 128
    assert row["search_ms_per_event"] > 0 and row["bytes_per_enrolled_subject"] > row["code_bytes"]
    assert set(row["search_ms_per_small_batch"]) == {"1", "8"} and all(
        v > 0 for v in row["search_ms_per_small_batch"].values()
    )
    assert row["identified_share"] > 0.9  # genuine probes find themselves above the threshold
    assert "| 500 |" in markdown([row])
    assert row["cpu"].split(":")[0] and row["cpu"] in markdown([row])  # the figures' CPU and vector units
