"""Which partitions an input fetch asks for: the captures always, lifecycle partitions when due."""

from __future__ import annotations

from aiokafka.structs import TopicPartition

from gateway.shell.fetch_lanes import FetchLanes

CAPTURES = frozenset(TopicPartition("faces.raw.v", p) for p in range(4))
CONSENT = frozenset(TopicPartition("consent.acme", p) for p in range(4))
ENROLL = frozenset(TopicPartition("enroll.acme", p) for p in range(4))
ASSIGNED = CAPTURES | CONSENT | ENROLL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lanes(clock: Clock) -> FetchLanes:
    return FetchLanes(lambda topic: topic.startswith("faces.raw."), 0.1, hot=0.5, clock=clock)


def test_the_first_fetch_asks_for_everything_then_the_slow_lane_waits_its_interval() -> None:
    clock = Clock()
    chooser = lanes(clock)
    chosen, due = chooser.choose(ASSIGNED, ())
    assert chosen == ASSIGNED and due is None
    chooser.asked(chosen)
    clock.now += 0.03
    chosen, due = chooser.choose(ASSIGNED, ())
    assert chosen == CAPTURES
    assert due is not None and abs(due - 0.07) < 1e-9  # the fetcher wakes when the slow lane is due
    clock.now += 0.07
    chosen, _ = chooser.choose(ASSIGNED, ())
    assert chosen == ASSIGNED


def test_due_partitions_stay_chosen_until_a_fetch_asked_for_them() -> None:
    # A fetch to their broker was in flight: aiokafka left them out, so they are not yet asked for.
    clock = Clock()
    chooser = lanes(clock)
    assert chooser.choose(ASSIGNED, ())[0] == ASSIGNED
    chooser.asked(CAPTURES)
    clock.now += 0.01
    assert chooser.choose(ASSIGNED, ())[0] == ASSIGNED
    chooser.asked(ASSIGNED)
    clock.now += 0.01
    assert chooser.choose(ASSIGNED, ())[0] == CAPTURES


def test_due_partitions_wait_while_their_broker_is_sent_nothing() -> None:
    # aiokafka sends one fetch per broker at a time, and none while its records wait untaken.
    clock = Clock()
    chooser = lanes(clock)
    node_of = {**dict.fromkeys(CONSENT, 1), **dict.fromkeys(ENROLL, 2)}.get
    chosen, _ = chooser.choose(ASSIGNED, (), node_of, busy={1})
    assert chosen == CAPTURES | ENROLL
    chooser.asked(chosen)
    clock.now += 0.01
    assert chooser.choose(ASSIGNED, (), node_of, busy={1})[0] == CAPTURES
    assert chooser.choose(ASSIGNED, (), node_of, busy={2})[0] == CAPTURES | CONSENT


def test_a_due_partition_no_fetch_can_ask_for_holds_back_no_other() -> None:
    # Paused (Faust's full stream buffer) or awaiting an offset reset: aiokafka leaves it out of every fetch.
    clock = Clock()
    chooser = lanes(clock)
    stuck = TopicPartition("consent.acme", 1)
    assert chooser.choose(ASSIGNED, ())[0] == ASSIGNED
    chooser.asked(ASSIGNED - {stuck})
    clock.now += 0.05
    assert chooser.choose(ASSIGNED, ())[0] == CAPTURES | {stuck}
    clock.now += 0.06
    assert chooser.choose(ASSIGNED, ())[0] == ASSIGNED


def test_a_lifecycle_partition_that_held_records_is_asked_for_in_every_fetch_while_it_has_more() -> None:
    clock = Clock()
    chooser = lanes(clock)
    chooser.asked(chooser.choose(ASSIGNED, ())[0])
    backlog = TopicPartition("enroll.acme", 2)
    for _ in range(20):  # a backlog of enrollments: every fetch returns some
        clock.now += 0.02
        chosen, _ = chooser.choose(ASSIGNED, (backlog,))
        chooser.asked(chosen)
        clock.now += 0.02
        chosen, _ = chooser.choose(ASSIGNED, ())
        assert backlog in chosen
        chooser.asked(chosen)
    clock.now += 0.3  # a pause in the burst: still asked for
    assert backlog in chooser.choose(ASSIGNED, ())[0]
    clock.now += 0.21  # drained: back to the slow lane
    chooser.asked(chooser.choose(ASSIGNED, ())[0])
    clock.now += 0.01
    assert chooser.choose(ASSIGNED, ())[0] == CAPTURES


def test_a_new_assignment_is_asked_for_at_once_and_partitions_no_longer_ours_never() -> None:
    clock = Clock()
    chooser = lanes(clock)
    chooser.asked(chooser.choose(ASSIGNED, (TopicPartition("enroll.acme", 3),))[0])
    clock.now += 0.01
    smaller = frozenset(tp for tp in ASSIGNED if tp.partition < 2) | {TopicPartition("cameras.acme", 0)}
    chosen, _ = chooser.choose(smaller, ())
    assert TopicPartition("cameras.acme", 0) in chosen  # never asked for: due
    assert chosen <= smaller  # the partition that held records is no longer assigned: not asked for


def test_with_only_captures_assigned_nothing_is_held_back() -> None:
    clock = Clock()
    chooser = lanes(clock)
    chooser.asked(chooser.choose(CAPTURES, ())[0])
    clock.now += 0.01
    assert chooser.choose(CAPTURES, ()) == (CAPTURES, None)
