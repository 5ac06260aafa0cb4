"""Freezing what a worker loaded at start: garbage collected first, the rest no longer walked, still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway.shell.heap import freeze_loaded


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
