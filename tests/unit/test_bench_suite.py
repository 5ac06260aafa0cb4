"""The suite's backlog rate: every decision after the backlog's last write, over its own window."""

from __future__ import annotations

import pytest

from bench.suite import backlog_rate


def test_the_rate_leaves_out_what_was_decided_while_the_backlog_was_written() -> None:
    # 100 decisions while written (slowly: the writer shared the cores), then 1,000 in one second.
    during = [i * 10 for i in range(100)]
    after = [1_000 + i for i in range(1_000)]
    assert backlog_rate(during + after, written_ms=1_000) == 1_000 / 0.999


def test_a_backlog_decided_mostly_while_written_is_timed_from_its_first_decision() -> None:
    stamps = [0, 100, 200, 300, 400, 410]
    assert backlog_rate(stamps, written_ms=405) == 6 / 0.41


def test_the_window_opens_at_the_last_write_and_counts_only_what_it_holds() -> None:
    stamps = [0, 1_000, 1_500, 2_000]
    assert backlog_rate(stamps, written_ms=900) == pytest.approx(3 / 1.1)
