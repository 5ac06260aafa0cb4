"""The 1:N benchmark runs end to end on a small index and identifies enrolled people (no timing asserted)."""

from __future__ import annotations

import pytest

from bench.matching import markdown, measure, upper_bound


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


def test_the_bounds_are_what_the_counts_can_show() -> None:
    # None seen in n: 1 - 0.05^(1/n), the "rule of three" (about 3/n).
    assert upper_bound(0, 30_000) == pytest.approx(1 - 0.05 ** (1 / 30_000), rel=1e-6)
    assert upper_bound(0, 30_000) < 1e-4 < upper_bound(0, 20_000)
    # One seen in 10: the exact binomial bound (Clopper-Pearson, one-sided 95%) is 0.3942.
    assert upper_bound(1, 10) == pytest.approx(0.3942, abs=1e-4)
    assert upper_bound(5, 5) == 1.0
    row = measure(500, batches=2, impostor_batches=3)
    assert row["impostor_probes"] == 192 and set(row["false_accept_rate_at_most"]) == {"index", "exhaustive"}
    assert row["false_accept_rate_at_most"]["index"] >= row["false_accepts"]["index"] / 192
    assert 0 < row["recall_at_least"] <= row["recall_vs_exhaustive"]
    assert "(>= " in markdown([row]) and "(<= " in markdown([row])
