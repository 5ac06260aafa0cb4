"""Waiting inside one event loop for what another task does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition


async def until(condition: Callable[[], bool], turns: int = 1000) -> None:
    """Give other tasks turns of the loop until they made `condition` true (bounded)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


class Prefetched:
    """A consumer of one partition with `batches` batches of `per_batch` records already fetched:
    its getmany never suspends until all are taken (as aiokafka's, while its prefetch holds
    records), and gives at most the records asked for."""

    def __init__(self, tp: TopicPartition, per_batch: int, batches: int) -> None:
        self.tp, self.per_batch, self.end, self.offset = tp, per_batch, per_batch * batches, 0

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Any]]:
        if self.offset == self.end:
            await asyncio.Event().wait()  # nothing more is written
        taken = min(self.per_batch, max_records, self.end - self.offset)
        records = [SimpleNamespace(key=b"k", value=b"v", offset=self.offset + i, timestamp=0) for i in range(taken)]
        self.offset += taken
        return {self.tp: records}

    def seek(self, _: TopicPartition, offset: int) -> None:
        self.offset = offset

    def pause(self, *_: TopicPartition) -> None:
        pass  # one partition, its records already fetched: nothing to stop fetching

    def resume(self, *_: TopicPartition) -> None:
        pass

    async def position(self, _: TopicPartition) -> int:
        return self.offset
