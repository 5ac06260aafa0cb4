"""The age of the oldest undecided raw input, the measure behind the retention alert."""

from __future__ import annotations

from gateway.shell.backlog import Backlog

MINUTE = 60_000


def test_nothing_waiting_is_zero() -> None:
    backlog = Backlog()
    assert backlog.oldest_undecided_seconds(10 * MINUTE, {}) == 0
    backlog.decided([(0, 5, 1 * MINUTE)])
    assert backlog.oldest_undecided_seconds(10 * MINUTE, {0: 6}) == 0  # read up to the log's end


def test_a_batch_in_flight_counts_its_oldest_input() -> None:
    backlog = Backlog()
    backlog.deciding([(0, 4 * MINUTE), (0, 3 * MINUTE), (1, 5 * MINUTE)])
    assert backlog.oldest_undecided_seconds(10 * MINUTE, {}) == 7 * 60
    backlog.decided([(0, 7, 4 * MINUTE), (1, 2, 5 * MINUTE)])
    assert backlog.oldest_undecided_seconds(10 * MINUTE, {0: 8, 1: 3}) == 0


def test_a_stalled_partition_counts_from_its_newest_decided_input() -> None:
    backlog = Backlog()
    backlog.decided([(0, 9, 2 * MINUTE)])
    # First seen behind: could be a capture arriving between two batches.
    assert backlog.oldest_undecided_seconds(30 * MINUTE, {0: 50}) == 0
    # Still behind with no decision since: the next input is at most as old as the newest decided.
    assert backlog.oldest_undecided_seconds(31 * MINUTE, {0: 60}) == 29 * 60


def test_progress_between_samples_is_not_a_stall() -> None:
    backlog = Backlog()
    backlog.decided([(0, 9, 2 * MINUTE)])
    assert backlog.oldest_undecided_seconds(60 * MINUTE, {0: 11}) == 0  # after an idle hour, a capture arrives
    backlog.decided([(0, 10, 60 * MINUTE)])
    assert backlog.oldest_undecided_seconds(60 * MINUTE + 5000, {0: 12}) == 0  # another one, decided next
    assert backlog.oldest_undecided_seconds(60 * MINUTE + 10_000, {0: 12}) == 10  # that one waits


def test_an_unknown_highwater_and_a_revoked_partition_count_nothing() -> None:
    backlog = Backlog()
    backlog.decided([(0, 9, 2 * MINUTE), (1, 3, 1 * MINUTE)])
    for _ in range(2):
        assert backlog.oldest_undecided_seconds(30 * MINUTE, {0: None}) == 0
    backlog.oldest_undecided_seconds(30 * MINUTE, {1: 10})
    backlog.forget([1])
    assert backlog.oldest_undecided_seconds(31 * MINUTE, {1: 10}) == 0
