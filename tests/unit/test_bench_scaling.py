"""bench.scaling's fit and table without Kafka: windows made from a known fixed cost per second and
marginal cost per decision give those costs back, and idle windows are reported, not fitted."""

from __future__ import annotations

from typing import Any

import pytest

from bench.scaling import fit, markdown


def window(rate: float, seconds: float, workers: int, fixed: float, marginal_ms: float) -> dict[str, Any]:
    decisions = rate * seconds
    cpu = fixed * seconds + marginal_ms / 1000 * decisions
    return {
        "rate": rate, "seconds": seconds, "undecided": 0,
        "decisions": [decisions / workers] * workers, "cpu_seconds": [cpu / workers] * workers,
    }  # fmt: skip


def test_the_fit_recovers_fixed_and_marginal_costs_from_loaded_windows_only() -> None:
    loaded = [window(r, s, 2, 0.7, 0.45) for r, s in ((250, 27.0), (500, 29.0), (750, 31.0))]
    idle = {**window(0, 15.0, 2, 0.15, 0.0), "decisions": [40, 40]}  # far below the loaded fixed cost
    result = fit([idle, *loaded])
    assert result["fixed_cpu_per_second"] == pytest.approx(0.7)
    assert result["marginal_cpu_ms_per_decision"] == pytest.approx(0.45)
    assert result["worst_residual_cpu_seconds"] == pytest.approx(0.0, abs=1e-9)


def test_the_table_compares_one_worker_with_two() -> None:
    levels = []
    for workers, fixed in ((1, 0.45), (2, 0.70)):
        windows = [window(0, 15.0, workers, 0.15, 0.0)] + [window(r, 25.0, workers, fixed, 0.45) for r in (250, 750)]
        levels.append({"enrolled_per_tenant": 1000, "workers": workers, "windows": windows, "fit": fit(windows)})
    table = markdown({"rates": [250, 750], "seconds": 25, "idle_seconds": 15, "settings": "x", "levels": levels})
    assert "changes the marginal cost per decision by +0%" in table
    assert "adds 0.250 CPU-s per second of fixed cost (one worker's: 0.450)" in table
    assert "idle, 15.0 s" in table and "0.150 CPU-s per second" in table
    assert "Undecided captures in all windows: 0." in table
