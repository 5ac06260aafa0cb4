"""Every worker reads the whole of the compacted feed topics (cameras, consent, protected
enrollments) and applies each record to the core's state, from the beginning and then live.

Why not Faust tables: a Faust (Global)Table reads its changelog only for partitions it holds as
standbys; partitions it holds as actives are read during recovery and then never again, so
with one worker (which holds them all) records written later by other systems are never
applied (checked here with faust-streaming 0.15.3). These topics are written by tenants' and
admins' systems, not by the worker, so each worker follows them with a plain consumer that has
no group: all partitions, always.

Readiness: `caught_up` is set once every partition has been read up to the end offset seen at
start; nothing is decided before that (fail closed), and the reader counts as started only then,
so the services started after it (the worker's consumer group membership) wait for it.
Afterwards the reader keeps asking for the end offsets (once a second) and notes when it last had
read everything (`lag`): a worker whose feeds fall behind by more than a bound strips instead of
forwarding. On the Tansu demo broker end offsets are reported wrong, so catch-up there is
approximate; Tansu starts empty anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from mode import Service

from gateway.core.messages import record_key
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import READ_BATCH, partitions_of
from gateway.settings import Settings
from gateway.shell.heap import freeze_loaded
from gateway.shell.periodic import repeat

log = logging.getLogger("facegate.feeds")
# While the feeds load, what they applied is frozen out of the collector every FREEZE_EVERY records
# (heap.py): its full passes otherwise walk the growing gallery, 0.5-0.7 s each near 1M per tenant.
FREEZE_EVERY = 100_000

Apply = Callable[[str, bytes | None, int, int, int], None]  # key, value (None: tombstone), partition, offset, ms


@dataclass
class Lag:
    """How far behind the feeds are. Every second the reader notes the end offsets; the feeds are
    caught up to the latest moment whose end offsets they have all read past. Measured so, a feed
    that is written to all the time but read promptly lags by about a second, not forever."""

    caught_up_at: float | None = None  # monotonic seconds
    behind: dict[str, int] = field(default_factory=dict)  # records not yet read, per topic, at the last look
    _seen: deque[tuple[float, dict[TopicPartition, int]]] = field(default_factory=deque)

    def observe(self, positions: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int], now: float) -> None:
        self._seen.append((now, dict(ends)))
        while self._seen and all(positions.get(tp, 0) >= end for tp, end in self._seen[0][1].items()):
            self.caught_up_at = self._seen.popleft()[0]
        behind: dict[str, int] = {}
        for tp, end in ends.items():
            if (missing := end - positions.get(tp, 0)) > 0:
                behind[tp.topic] = behind.get(tp.topic, 0) + missing
        self.behind = behind

    def seconds(self, now: float) -> float:
        return float("inf") if self.caught_up_at is None else now - self.caught_up_at


class FeedReader(Service):
    def __init__(self, settings: Settings, feeds: dict[str, Apply], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.feeds = feeds
        self.caught_up = asyncio.Event()
        self.applied = 0
        self._frozen_at = 0  # records applied when the last freeze was made
        self._consumer: AIOKafkaConsumer | None = None
        self._targets: dict[TopicPartition, int] = {}
        self.lag = Lag()

    def lagging(self, bound_seconds: float) -> bool:
        """Whether the feeds were last caught up longer ago than the bound (or never)."""
        return self.lag.seconds(time.monotonic()) > bound_seconds

    async def on_start(self) -> None:
        consumer = AIOKafkaConsumer(
            **aiokafka_config(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        partitions = []
        for topic in self.feeds:
            partitions += await partitions_of(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        self._targets = {tp: end for tp, end in ends.items() if end > 0}
        self._consumer = consumer
        await self._check()
        log.info(
            "following %d feed partitions; %d records to catch up",
            len(partitions),
            sum(self._targets.values()),
        )

    async def on_started(self) -> None:
        await self.wait(self.caught_up.wait())  # or until stopped

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _check(self) -> None:
        if self.caught_up.is_set() or self._consumer is None:
            return
        for tp, target in list(self._targets.items()):
            if await self._consumer.position(tp) >= target:
                del self._targets[tp]
        if not self._targets:
            freeze_loaded()  # before anything is decided: the loaded registries, not batches in flight
            self.lag.caught_up_at = time.monotonic()
            self.caught_up.set()
            log.info("feeds caught up (%d records applied)", self.applied)

    async def sync(self, topics: set[str], timeout: float = 10.0) -> bool:
        """Wait until everything written to `topics` before now has been applied (False on timeout).

        A decision that refuses for want of a consent or enrollment calls this first and decides
        again: the consent may have been written just before the request that needs it.
        """
        if self._consumer is None:
            return False
        consumer = self._consumer
        partitions = [tp for tp in consumer.assignment() if tp.topic in topics]
        try:
            targets = await consumer.end_offsets(partitions)
        except KafkaError:  # brokers unreachable past the request timeout: not synced, as on a timeout
            return False
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            positions = {tp: await consumer.position(tp) for tp in targets}
            if all(positions[tp] >= end for tp, end in targets.items()):
                return True
            await asyncio.sleep(0.01)  # poll interval while _follow applies records
        return False

    @Service.task
    async def _measure_lag_every_second(self) -> None:
        await repeat(self, 1.0, self._measure_lag)

    async def _measure_lag(self) -> None:
        if self._consumer is None or not self.caught_up.is_set():
            return
        consumer = self._consumer
        partitions = list(consumer.assignment())
        try:
            ends = await consumer.end_offsets(partitions)
        except KafkaError as exc:  # brokers unreachable past the request timeout: the lag grows, fail closed
            log.warning("feed end offsets unavailable (%s); the feeds count as lagging", type(exc).__name__)
            return
        self.lag.observe({tp: await consumer.position(tp) for tp in partitions}, ends, time.monotonic())

    @Service.task
    async def _follow(self) -> None:
        while not self.should_stop:
            if self._consumer is None:
                await asyncio.sleep(0.05)  # not started yet
                continue
            batches = await self._consumer.getmany(timeout_ms=500, max_records=READ_BATCH)
            for tp, records in batches.items():
                apply = self.feeds[tp.topic]
                for record in records:
                    if record.key is None:
                        continue
                    apply(
                        record_key(record.key),
                        record.value,
                        tp.partition,
                        record.offset,
                        record.timestamp,
                    )
                    self.applied += 1
            if not self.caught_up.is_set() and self.applied - self._frozen_at >= FREEZE_EVERY:
                freeze_loaded(final=False)
                self._frozen_at = self.applied
            await self._check()
            await asyncio.sleep(0)  # READ_BATCH: getmany does not yield while its prefetch holds records
