"""Which partitions the worker's input fetches ask for: the captures every time, the rest when due.

Faust reads the vendors' capture topics and every tenant's lifecycle topics (consent, enroll,
share requests, cameras) with one consumer, and aiokafka (no incremental fetch sessions) lists
every partition it may fetch in every fetch request, and parses every partition's entry in every
response. Under a paced load a fetch returns every few milliseconds, so 50 tenants (808 partitions
at 4 each) made each fetch 100 times larger than the captures need, parsed by Faust's consumer
thread holding the GIL the event loop needed (bench/PROFILES.md; the consumer now runs on the
event loop itself, app_loop.py).
Lifecycle records come at human pace: a lifecycle partition is asked for at most every `interval`
seconds, and in every fetch for a second after it last held records (a backlog of enrollments
comes in bursts, and one that paused longer than the interval would wait for it again at every
pause).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Container, Hashable, Iterable
from typing import Any

from aiokafka.structs import TopicPartition

HOT_SECONDS = 1.0


class FetchLanes:
    """Decides, before each fetch, which of the assigned partitions it asks for."""

    def __init__(
        self,
        fast: Callable[[str], bool],
        interval: float,
        hot: float = HOT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fast = fast  # a topic whose partitions every fetch asks for (the captures)
        self.interval = interval
        self.hot = max(hot, interval)  # a slow partition that held records this recently is in every fetch
        self.clock = clock
        self._asked: dict[TopicPartition, float] = {}  # when a fetch last asked for a slow partition
        self._held: dict[TopicPartition, float] = {}  # when a slow partition was last seen holding records
        self._next = -math.inf  # no slow partition is due before this (a whole pass over them is skipped)
        self._tps: frozenset[TopicPartition] = frozenset()  # the assignment split last: a new one on a rebalance
        self._fast: frozenset[TopicPartition] = frozenset()
        self._slow: frozenset[TopicPartition] = frozenset()
        self._fast_topics: frozenset[str] = frozenset()
        self._due: dict[Hashable, set[TopicPartition]] = {}  # by broker: slow partitions due, not yet asked for

    def choose(
        self,
        tps: frozenset[TopicPartition],
        holding: Iterable[TopicPartition],
        node_of: Callable[[TopicPartition], Hashable] = lambda tp: None,
        busy: Container[Hashable] = (),
    ) -> tuple[frozenset[TopicPartition], float | None]:
        """The partitions a fetch may ask for now, and in how many seconds the next slow one held
        back is due (None: none held back). `holding`: partitions whose fetched records wait
        untaken; `node_of(tp)`: the broker a partition is fetched from; `busy`: brokers the client
        sends no fetch to now (their due partitions wait: offered, they would only cost its loop)."""
        now = self.clock()
        if tps is not self._tps:  # a new assignment
            self._tps, self._next = tps, -math.inf
            self._fast = frozenset(tp for tp in tps if self.fast(tp.topic))
            self._slow = tps - self._fast
            self._fast_topics = frozenset(tp.topic for tp in self._fast)
            self._asked = {tp: at for tp, at in self._asked.items() if tp in self._slow}
            self._due = {}
        for tp in holding:
            if tp in self._slow:
                self._held[tp] = now
        self._held = {tp: at for tp, at in self._held.items() if now - at < self.hot and tp in self._slow}
        if now >= self._next:  # a pass over the slow lane when the next of it is due
            waits = {tp: self._asked.get(tp, -math.inf) + self.interval - now for tp in self._slow}
            for tp, wait in waits.items():
                if wait <= 0:
                    self._due.setdefault(node_of(tp), set()).add(tp)
            self._next = now + min((w for w in waits.values() if w > 0), default=math.inf)  # and see asked()
        # Due partitions stay due until a fetch asked for them: their broker had a fetch in flight,
        # or the partition is paused or awaits an offset reset.
        chosen = self._fast.union(self._held, *(due for node, due in self._due.items() if node not in busy))
        return chosen, self._next - now if len(chosen) < len(tps) and self._next < math.inf else None

    def asked(self, tps: Iterable[TopicPartition]) -> None:
        """A fetch went out for these partitions (a slow one is due again an interval later)."""
        now = self.clock()
        slow = [tp for tp in tps if tp in self._slow]
        if not slow:
            return
        self._asked.update(dict.fromkeys(slow, now))
        self._next = min(self._next, now + self.interval)
        for due in self._due.values():
            due.difference_update(slow)
        self._due = {node: due for node, due in self._due.items() if due}

    def install(self, fetcher: Any) -> None:
        """Let `fetcher` (aiokafka 0.14's Fetcher, pinned) build each fetch from the chosen partitions."""
        actions = fetcher._get_actions_per_node

        def chosen_actions(assignment: Any) -> tuple[Any, ...]:
            # As the client decides: a broker with a fetch in flight, or whose fetched records have
            # waited untaken for less than its prefetch backoff, is sent nothing now.
            node_of, records = fetcher._select_read_replica, fetcher._records
            busy = {*fetcher._in_flight, *(node_of(tp) for tp, held in records.items() if held.calculate_backoff())}
            tps, due = self.choose(assignment.tps, records.keys(), node_of, busy)
            requests, resets, timeout, invalid, resumes = actions(_Only(assignment, tps))
            asked = (fetch.topics for _, fetch in requests)
            self.asked(
                TopicPartition(t, p) for ts in asked for t, ps in ts if t not in self._fast_topics for p, *_ in ps
            )
            return requests, resets, timeout if due is None else min(timeout, due), invalid, resumes

        fetcher._get_actions_per_node = chosen_actions


class _Only:
    """An aiokafka assignment that shows only some of its partitions."""

    def __init__(self, assignment: Any, tps: frozenset[TopicPartition]) -> None:
        self._assignment = assignment
        self.tps = tps

    def __getattr__(self, name: str) -> Any:
        return getattr(self._assignment, name)
