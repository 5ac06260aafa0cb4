"""How long the oldest produce call in flight has waited for Kafka.

With acks=all and idempotence the producer retries what Kafka refuses for a while (a leader moving,
fewer in-sync replicas than min.insync.replicas) by itself, in order and once; a produce call then
waits rather than fails, and the worker decides nothing meanwhile (it waits inside it). That is the
fail-closed state below min.insync; this clock makes it visible: /readyz turns not-ready and
facegate_produce_stalled_seconds grows once the oldest call has waited longer than
FACEGATE_PRODUCE_STALL_MS (docs/operations.md, "Production topology").
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StallClock:
    """Start times of the produce calls in flight, on a monotonic clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._ids = itertools.count()
        self._started: dict[int, float] = {}  # insertion order: the first is the oldest

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """A produce call in flight for as long as the block runs (also when it raises or is cancelled)."""
        token = next(self._ids)
        self._started[token] = self._clock()
        try:
            yield
        finally:
            del self._started[token]

    def oldest(self) -> float:
        """Seconds the oldest call in flight has waited; 0 with none in flight."""
        if not self._started:
            return 0.0
        return max(0.0, self._clock() - next(iter(self._started.values())))

    def stalled(self, bound_seconds: float) -> bool:
        """The oldest call in flight has waited longer than the bound."""
        return self.oldest() > bound_seconds
