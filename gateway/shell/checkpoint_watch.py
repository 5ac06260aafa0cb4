"""The elected checkpointer's view of the log: every audit partition's newest checkpoint.

The worker that owns audit partition 0 signs the completeness note (docs/audit-format.md §6)
from what the log says, not from what workers say: one consumer assigned to every audit
partition follows them, decoding only checkpoint records (keys `k-...`, and `c-...` for the
completeness notes on partition 0, whose newest time the next note must exceed). At first use it
starts 256 records back from each partition's end and widens (4x) until it holds a checkpoint.
A read and a stop take turns: the shutdown's stop waits for the timer's read in flight, and a
read after the stop reads nothing (None) rather than starting a consumer again.

Only the partition being read is fetched (the others are paused, all of them between reads), and
a read leaves nothing fetched behind it. With every partition fetched at once, aiokafka's fetcher
asked for a partition read to its end alone and the broker held that request for data (500 ms by
default) while the next partition's records waited behind it (one fetch in flight per broker): a
read of four partitions that had each grown by more than one fetch took 1.6 s (bench/PROFILES.md).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditCheckpoint
from gateway.core.audit import note
from gateway.core.audit.note import Checkpoint, Completeness, NoteError
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import apply_until, stop_quietly
from gateway.settings import Settings

# The watch reads up to ends it knows: a fetch at a partition's end need not wait for more.
FETCH_WAIT_MS = 10


class CheckpointWatch:
    def __init__(self, settings: Settings, topic: str, partitions: int) -> None:
        self.settings = settings
        self.topic = topic
        self.count = partitions
        self.codec = default_codec()
        self.log = settings.audit_log_name
        self.newest: dict[int, Checkpoint] = {}
        self.completeness_time: datetime | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._turn = asyncio.Lock()
        self._stopped = False

    async def read(self) -> dict[int, Checkpoint] | None:
        """Every partition's newest checkpoint as the log holds it now; None once stopped."""
        async with self._turn:
            return None if self._stopped else await self._read_all()

    async def _read_all(self) -> dict[int, Checkpoint]:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **aiokafka_config(self.settings), group_id=None, enable_auto_commit=False,
                fetch_max_wait_ms=FETCH_WAIT_MS,
            )  # fmt: skip
            await consumer.start()
            self._consumer = consumer
            tps = [TopicPartition(self.topic, p) for p in range(self.count)]
            consumer.assign(tps)
            consumer.pause(*tps)
            ends, firsts = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
            for tp in tps:
                await self._first_read(consumer, tp, firsts[tp], ends[tp])
        consumer = self._consumer
        tps = [TopicPartition(self.topic, p) for p in range(self.count)]
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            await self._read(consumer, tp, None, ends[tp])
        return dict(self.newest)

    async def _first_read(self, consumer: AIOKafkaConsumer, tp: TopicPartition, first: int, end: int) -> None:
        low, high = max(first, end - 256), end
        while True:
            await self._read(consumer, tp, low, high)
            if tp.partition in self.newest or low <= first:
                break
            low, high = max(first, end - 4 * (end - low)), low
        consumer.seek(tp, end)

    async def _read(self, consumer: AIOKafkaConsumer, tp: TopicPartition, low: int | None, end: int) -> None:
        def apply(record: ConsumerRecord[bytes, bytes]) -> None:
            if (record.key or b"")[:2] in (b"k-", b"c-"):
                self._apply(tp.partition, record.value or b"")

        if low is not None:
            consumer.seek(tp, low)
        consumer.resume(tp)
        try:
            await apply_until(consumer, tp, end, apply)
            # What was fetched past `end` is let go, to be fetched again from here next time: held,
            # it would keep the next partition's fetch waiting (aiokafka's prefetch backoff, 0.1 s).
            consumer.seek(tp, await consumer.position(tp))
        finally:
            consumer.pause(tp)

    def _apply(self, partition: int, value: bytes) -> None:
        try:
            record = self.codec.decode_any(value)
            if not isinstance(record, AuditCheckpoint) or not record.note:
                return
            text = note.parse(record.note.encode()).text
            if text.startswith(note.completeness_origin(self.log) + "\n"):
                at = Completeness.parse(text).time
                self.completeness_time = max(at, self.completeness_time or at)
                return
            checkpoint = Checkpoint.parse(text)
            if checkpoint.partition(self.log) != partition:
                return
        except (DecodeError, NoteError):
            return
        known = self.newest.get(partition)
        if known is None or (checkpoint.size, checkpoint.time) > (known.size, known.time):
            self.newest[partition] = checkpoint

    async def stop(self) -> None:
        async with self._turn:
            self._stopped = True
            if self._consumer is not None:
                await stop_quietly(self._consumer)
                self._consumer = None
