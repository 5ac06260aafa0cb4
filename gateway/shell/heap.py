"""The registries a worker loads at start live as long as it does: keep them out of the collector.

CPython's cyclic garbage collector now and then walks every object it tracks (a full, generation-2
collection). With 1M enrolled subjects per tenant that is millions of entries, and each full pass
held the event loop 0.6-1.2 s, every 15-40 s, with every capture in flight waiting behind it.
Freezing moves what survived a collection into a permanent generation that the collector no longer
walks; it is still freed as usual when its last reference goes. Done as the feeds load (each
pass then walks only what was loaded since the last) and once they have caught up: what was
loaded by then is the gallery, the consents and the cameras, not garbage.

What the worker makes after that lives long too: the modules and compiled kernels its first
decisions load, its clients, its caches. At 100k enrolled per tenant that was ~60,000 objects
and each full pass over them held the loop 10-65 ms (bench/PROFILES.md), so `FullPasses` freezes
what survived a full pass that took longer than a bound: reachable after a full collection, it is
long-lived by evidence, and the passes after it are short again. The price is that a cycle alive
at such a moment is never collected once it becomes garbage, so it happens at most `limit` times
per process: a worker that keeps making long-lived objects after that (a cache filling) is not
frozen without end. `facegate run` installs it for the worker's process (the collector is the
process's, not a library's business); it counts passes only once the loaded registries are frozen
(passes while they load are slow by nature, and frozen by `freeze_loaded` already).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("facegate")

FULL_PASS_BOUND = 0.005  # seconds: a full pass longer than this freezes what survived it
FULL_PASS_FREEZES = 10  # at most this many times per process


def freeze_loaded(final: bool = True) -> int:
    """Collect what is garbage now, then freeze everything left; returns how many objects are frozen.
    `final`: the feeds have caught up (logged), else they are still loading."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.log(logging.INFO if final else logging.DEBUG,
            "%d objects loaded at start frozen out of the garbage collector's full passes", frozen)  # fmt: skip
    if final:
        FULL_PASSES.armed = True
    return frozen


class FullPasses:
    """A collector callback (`gc.callbacks`): after a full pass that took longer than `bound`
    seconds, what survived it is frozen, up to `limit` times. Nothing is logged from inside a
    collection (it may run in the middle of a logging call): `report()` logs what was frozen since
    it last looked."""

    def __init__(
        self,
        bound: float = FULL_PASS_BOUND,
        limit: int = FULL_PASS_FREEZES,
        clock: Callable[[], float] = time.perf_counter,
        armed: bool = False,
    ) -> None:
        self.bound, self.limit, self.clock = bound, limit, clock
        self.armed = armed  # counting passes: the loaded registries are frozen
        self.frozen_after: list[float] = []  # seconds each pass took after which survivors were frozen
        self._began: float | None = None
        self._reported = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2 or not self.armed:
            return
        if phase == "start":
            self._began = self.clock()
            return
        if self._began is None:
            return
        took, self._began = self.clock() - self._began, None
        if took > self.bound and len(self.frozen_after) < self.limit:
            gc.freeze()  # the collection is over: its lists are consistent, and freezing only moves them
            self.frozen_after.append(took)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def uninstall(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def report(self) -> None:
        new = self.frozen_after[self._reported :]
        if new:
            log.info("froze what survived %d slow full garbage collection(s) (the slowest %.0f ms); %d objects frozen",
                     len(new), 1000 * max(new), gc.get_freeze_count())  # fmt: skip
            self._reported += len(new)


FULL_PASSES = FullPasses()  # one per process: the collector is
