"""Freezing what a worker loaded at start, and what outlived a slow full pass: garbage collected first,
the rest no longer walked, still freed."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Callable, Iterator

import pytest

from gateway.shell import heap
from gateway.shell.heap import FullPasses, freeze_loaded


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the other tests run with a collector that walks everything, as before


def test_garbage_is_collected_before_the_rest_is_frozen_and_frozen_objects_are_still_freed(unfrozen: None) -> None:
    cycle_a, cycle_b = _Node(), _Node()
    cycle_a.other, cycle_b.other = cycle_b, cycle_a  # garbage only the cyclic collector frees
    gone = weakref.ref(cycle_a)
    del cycle_a, cycle_b
    kept = _Node()
    frozen = freeze_loaded()
    assert gone() is None, "garbage at the time is collected, not frozen for the process's life"
    assert frozen == gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects()), "a loaded object is no longer walked by collections"
    freed = weakref.ref(kept)
    del kept
    assert freed() is None, "a frozen object is freed when its last reference goes"


class _Ticks:
    """A clock that moves `step` seconds each time it is read: each pass takes `step`."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


Watch = Callable[..., FullPasses]


@pytest.fixture
def watch(unfrozen: None) -> Iterator[Watch]:
    """Makes a FullPasses (bound 5 ms, each pass taking `step` s) and installs it; uninstalled after."""
    made: list[FullPasses] = []

    def installed(step: float, limit: int = heap.FULL_PASS_FREEZES, armed: bool = False) -> FullPasses:
        passes = FullPasses(bound=0.005, limit=limit, clock=_Ticks(step), armed=armed)
        made.append(passes)
        passes.install()
        return passes

    yield installed
    for passes in made:
        passes.uninstall()


def test_a_slow_full_pass_freezes_what_survived_it_after_collecting_the_garbage(watch: Watch) -> None:
    passes = watch(0.010, armed=True)
    passes.install()  # a second time: installed once only
    assert gc.callbacks.count(passes) == 1
    cycle_a, cycle_b = _Node(), _Node()
    cycle_a.other, cycle_b.other = cycle_b, cycle_a
    gone = weakref.ref(cycle_a)
    del cycle_a, cycle_b
    kept = _Node()
    gc.collect(0)  # a young pass: not a full one, nothing frozen
    assert not passes.frozen_after and gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None, "the pass collected the garbage before anything was frozen"
    assert passes.frozen_after == [pytest.approx(0.010)]
    assert not any(o is kept for o in gc.get_objects()), "what survived the slow pass is no longer walked"
    freed = weakref.ref(kept)
    del kept
    assert freed() is None, "and is still freed when its last reference goes"


def test_a_short_full_pass_freezes_nothing_and_an_uninstalled_watch_sees_no_pass(watch: Watch) -> None:
    passes = watch(0.001, armed=True)
    kept = _Node()
    gc.collect()
    assert not passes.frozen_after and gc.get_freeze_count() == 0
    assert any(o is kept for o in gc.get_objects())
    passes.uninstall()
    passes.clock = _Ticks(1.0)
    gc.collect()
    assert not passes.frozen_after and passes not in gc.callbacks


def test_report_logs_each_freeze_once(watch: Watch, caplog: pytest.LogCaptureFixture) -> None:
    passes = watch(0.020, armed=True)
    with caplog.at_level(logging.INFO, logger="facegate"):
        passes.report()
        assert not caplog.records, "nothing frozen yet: nothing to say"
        gc.collect()
        passes.report()
        passes.report()
    assert len(caplog.records) == 1
    assert "1 slow full garbage collection(s) (the slowest 20 ms)" in caplog.records[0].getMessage()


def test_it_freezes_at_most_limit_times(watch: Watch) -> None:
    passes = watch(0.010, limit=2, armed=True)
    gc.collect()
    gc.collect()
    kept = _Node()
    gc.collect()
    assert len(passes.frozen_after) == 2
    assert any(o is kept for o in gc.get_objects()), "past the limit a slow pass freezes nothing"


def test_passes_count_only_once_the_loaded_registries_are_frozen(watch: Watch) -> None:
    passes = watch(0.010)
    gc.collect()  # the feeds still loading: slow by nature, frozen by freeze_loaded as they load
    assert not passes.frozen_after
    passes.armed = True
    gc.collect()
    assert len(passes.frozen_after) == 1


def test_the_final_freeze_of_the_loaded_registries_arms_the_process_watch(unfrozen: None) -> None:
    armed = heap.FULL_PASSES.armed
    try:
        heap.FULL_PASSES.armed = False
        freeze_loaded(final=False)
        assert not heap.FULL_PASSES.armed
        freeze_loaded()
        assert heap.FULL_PASSES.armed
    finally:
        heap.FULL_PASSES.armed = armed
