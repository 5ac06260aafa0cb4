"""PartitionTable: a Faust Table whose writes go to an explicitly chosen changelog partition.

The worker processes batches that span input partitions, and per-partition state (seen event
ids, audit chain heads) must land in the changelog partition of the input it belongs to, so
that whoever owns that input partition after a rebalance recovers it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.tables.table import Table

_partition: contextvars.ContextVar[int | None] = contextvars.ContextVar("facegate_partition", default=None)


class PartitionTable(Table[Any, Any]):
    @contextmanager
    def writing_for(self, partition: int) -> Iterator[None]:
        token = _partition.set(partition)
        try:
            yield
        finally:
            _partition.reset(token)

    def partition_for_key(self, key: Any) -> int | None:
        chosen = _partition.get()
        if chosen is None:
            raise RuntimeError(f"{self.name}: writes must name their partition (writing_for)")
        return chosen
