"""The vendor-binding benchmark runs, decides every capture on its vendor's topic, and verifies every MAC
(no timing asserted)."""

from __future__ import annotations

from bench.vendor_binding import markdown, run


def test_benchmark_reports_the_decision_and_the_macs_per_capture() -> None:
    result = run(batches=1, batch=40, rounds=1)
    assert result["decision"]["captures"] == 40 and result["decision"]["cpu_us_per_capture"] > 0
    assert set(result["mac"]) == {"hmac.digest", "hmac.new().copy()"}
    assert all(m["cpu_us_per_capture"] > 0 for m in result["mac"].values())
    assert result["record_bytes"] > 2048 and result["best_mac"] in result["mac"]
    assert 0 < result["mac_share_of_decision"]["cpu"] < 1
    assert "HMAC-SHA256" in markdown(result)
