"""bench.scaling's tables without Kafka: the group of two is compared with one worker at the rate
each of its workers sees (equal costs show as +0%, a dearer group as more), idle windows are
reported apart."""

from __future__ import annotations

from typing import Any

import pytest

from bench.scaling import at_the_rate_each_sees, markdown


def window(rate: float, seconds: float, workers: int, fixed: float, per_batch_ms: float, per_decision_ms: float,
           batch: float) -> dict[str, Any]:  # fmt: skip
    """A window where each worker decides batches of `batch` captures on average."""
    decisions = rate * seconds
    batches = decisions / batch
    cpu = fixed * seconds + per_batch_ms / 1000 * batches + per_decision_ms / 1000 * decisions
    return {
        "rate": rate, "seconds": seconds, "undecided": 0, "decisions": [decisions / workers] * workers,
        "batches": [batches / workers] * workers, "cpu_seconds": [cpu / workers] * workers,
    }  # fmt: skip


def levels(two_costs_more: float = 0.0) -> list[dict[str, Any]]:
    """One worker and a group of two whose workers decide batches sized by the rate each sees."""
    out = []
    for workers in (1, 2):
        per_decision = 0.45 + (two_costs_more if workers == 2 else 0.0)
        windows = [window(0, 15.0, workers, 0.05, 0.0, 0.0, 1.0)] + [
            window(r, 25.0, workers, 0.3 * workers, 2.5, per_decision, 1 + r / workers / 50) for r in (125, 250, 500)
        ]
        out.append({"enrolled_per_tenant": 1000, "workers": workers, "windows": windows})
    return out


def test_each_worker_is_compared_at_the_rate_it_sees() -> None:
    one, two = levels()
    rows = at_the_rate_each_sees(one, two)
    assert [r["rate"] for r in rows] == [250, 500]  # 125 has no one-worker window at 62.5
    for row in rows:
        assert row["two_per_batch"] == pytest.approx(row["one_per_batch"])
        assert row["two_per_1000"] == pytest.approx(row["one_per_1000"])
    one, dearer = levels(two_costs_more=0.2)
    assert all(r["two_per_1000"] > r["one_per_1000"] for r in at_the_rate_each_sees(one, dearer))


def test_the_tables_compare_one_worker_with_two() -> None:
    table = markdown({"rates": [125, 250, 500], "seconds": 25, "idle_seconds": 15, "settings": "x", "levels": levels()})
    assert "| 1,000 | 250/s |" in table and "| +0% |" in table
    assert "the group of two spent +0% to +0% per decision" in table
    assert "idle, 15.0 s" in table and "0.050 CPU-s per second" in table
    assert "Undecided captures in all windows: 0." in table
