"""How old the oldest raw capture this worker has not decided yet is: the measure that warns
before retention (FACEGATE_RAW_RETENTION_MS) deletes inputs nobody decided.

Raw captures are stamped by the broker (LogAppendTime) and retention counts from that stamp, so
an input's age on the broker is what matters. Per raw partition this worker owns:

- while a batch is being decided, its oldest input is undecided: its age counts;
- a partition whose log goes past the newest decided offset (the consumer's highwater) at two
  samples in a row with no decision in between is stalled: the input after the newest decided
  one is at most as old as that one, so the newest decided input's age counts (an upper bound);
- a backlog seen once only (a capture arriving between two batches) counts nothing: after an
  idle hour the first new capture would otherwise look an hour old.

No Kafka here: the worker feeds it offsets, broker times and highwaters (tests/unit/test_backlog.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field


@dataclass
class _Partition:
    next_offset: int = -1  # after the newest decided input
    newest_ms: int = 0  # its broker time
    in_flight_ms: int | None = None  # the oldest input of the batch being decided
    behind_at: int | None = None  # next_offset when the log was last seen past it


@dataclass
class Backlog:
    """Per input partition: the worker keys them by (topic, partition), a capture topic per vendor."""

    partitions: dict[Hashable, _Partition] = field(default_factory=dict)

    def deciding(self, inputs: Iterable[tuple[Hashable, int]]) -> None:
        """A batch starts: (partition, broker time ms) of each input."""
        for partition, timestamp_ms in inputs:
            state = self.partitions.setdefault(partition, _Partition())
            if state.in_flight_ms is None or timestamp_ms < state.in_flight_ms:
                state.in_flight_ms = timestamp_ms

    def decided(self, inputs: Iterable[tuple[Hashable, int, int]]) -> None:
        """A batch ends (decided or not): (partition, offset, broker time ms) of the inputs decided."""
        for state in self.partitions.values():
            state.in_flight_ms = None
        for partition, offset, timestamp_ms in inputs:
            state = self.partitions.setdefault(partition, _Partition())
            if offset + 1 > state.next_offset:
                state.next_offset, state.newest_ms = offset + 1, timestamp_ms

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Partitions revoked: their backlog is their next owner's."""
        for partition in partitions:
            self.partitions.pop(partition, None)

    def oldest_undecided_seconds(self, now_ms: int, highwaters: Mapping[Hashable, int | None]) -> float:
        """The age of the oldest undecided input, in seconds (0 when none is known to wait)."""
        oldest = now_ms
        for partition, state in self.partitions.items():
            if state.in_flight_ms is not None:
                oldest = min(oldest, state.in_flight_ms)
            highwater = highwaters.get(partition)
            behind = state.next_offset >= 0 and highwater is not None and highwater > state.next_offset
            if behind and state.behind_at == state.next_offset:
                oldest = min(oldest, state.newest_ms)
            state.behind_at = state.next_offset if behind else None
        return max(0.0, (now_ms - oldest) / 1000)
