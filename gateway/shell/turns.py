"""Deciding a batch in slices, with the event loop's turn between them.

Deciding is synchronous: while a batch is decided nothing else on the worker's event loop runs, not
/healthz, /readyz or /metrics, not Faust's hand-off of fetched messages, not a rebalance callback,
not the consumer's fetches and heartbeats (app_loop.py).
A backlog's batch of ~1,000 captures took 0.44-0.63 s to decide at 1M enrolled per tenant on a Zen 5
host and 0.86 s at 2M (bench/PROFILES.md), and 1:N search alone costs about 1.25 ms per capture at
1M on an AVX2 host: a batch of 1,000 would hold the loop over a second, and the chart's liveness probe
waits for up to 5 s (three failures in a row restart the pod).
So a batch is decided in slices of about `budget` seconds each, sized from how long the last slice
took per capture, and the loop gets a turn after each. A slice holds at least 64 captures: a
batch of one costs the search ~10x per capture what a batch of 1,000 does, while from 64 up it
cost the same per capture at 1M (bench/PROFILES.md). Lifecycle records and a sweep's erasures
are decided the same way (a backlog's batch of 1,000 enrollments held the loop for about half a
second on a Zen 3 host, and a sweep's erasures for seconds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

TURN_SECONDS = 0.1  # an HTTP request needs a few turns of the loop: a probe waits a few slices at most
LEAST_SLICE = 64  # keeps 1:N search batched, whatever the budget


class Turns:
    """How many captures fit in one turn, learned from the slices decided so far."""

    def __init__(
        self, budget: float = TURN_SECONDS, least: int = LEAST_SLICE, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.budget, self.least, self.clock = budget, least, clock
        self.size = least  # until a slice has been timed

    async def decide(self, items: Sequence[T], decide: Callable[[Sequence[T]], None]) -> float:
        """`decide` every item, in order, once, in consecutive slices, with the loop's turn between
        two slices; returns the seconds spent deciding (the turns not counted)."""

        def whole(some: Sequence[T]) -> int:
            decide(some)
            return len(some)

        return (await self._slices(items, whole))[0]

    async def decide_until(self, items: Sequence[T], decide: Callable[[Sequence[T]], int]) -> int:
        """Like `decide`, for a `decide` that may stop inside its slice (it returns how many of the
        slice's items it decided, the first ones): stops there; returns how many items were decided."""
        return (await self._slices(items, decide))[1]

    async def _slices(self, items: Sequence[T], decide: Callable[[Sequence[T]], int]) -> tuple[float, int]:
        spent, start = 0.0, 0
        while start < len(items):
            if start:
                await asyncio.sleep(0)  # one turn of the event loop: whatever became ready runs
            some = items[start : start + self.size]
            began = self.clock()
            done = decide(some)
            took = self.clock() - began
            spent += took
            start += done
            if done < len(some):
                break
            self.size = max(self.least, int(self.budget * len(some) / took)) if took > 0 else len(items)
        return spent, start
