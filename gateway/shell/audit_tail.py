"""What the audit topic already says about one partition: where its hash chain ends, and which
event ids it decided within the dedupe window.

The worker reads this when it first writes to a partition after start-up or a rebalance. The
log is the truth: after a crash the chain continues from the last record actually written
(redone records appear later as duplicate audit ids, never as a fork), and events decided
before the crash are recognised as repeats. Both used to live in Faust tables; the audit log
already holds the same facts, so a second copy (and its changelog writes) is not needed.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit.chain import ChainHead
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import stop_quietly
from gateway.settings import Settings
from gateway.shell.partitions import PartitionState


class AuditTail:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.codec = default_codec()

    async def history(self, partition: int, since_ms: int, timeout: float = 120.0) -> PartitionState:
        """Chain head and event ids decided since `since_ms` (all of them if the window is longer)."""
        consumer = AIOKafkaConsumer(**aiokafka_config(self.settings), group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, partition)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            found = PartitionState()
            if end == 0:
                return found
            start = (await consumer.offsets_for_times({tp: since_ms}))[tp]
            begin = start.offset if start is not None else end
            # The head must come from the last chained record, even when nothing is recent.
            consumer.seek(tp, max(0, min(begin, end - 64)))
            async with asyncio.timeout(timeout):
                while await consumer.position(tp) < end:
                    for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                        self._apply(found, record.value or b"", record.timestamp, since_ms)
            return found
        finally:
            await stop_quietly(consumer)

    def _apply(self, found: PartitionState, value: bytes, timestamp: int, since_ms: int) -> None:
        try:
            record = self.codec.decode_any(value)
        except DecodeError:
            return  # not ours to judge here: `facegate audit verify` reports it
        if isinstance(record, AuditRecord):
            found.head = ChainHead(record.seq, record.hash)
            if timestamp >= since_ms and not record.event_id.startswith("undecodable:"):
                found.decided[record.event_id] = timestamp
        elif isinstance(record, AuditCheckpoint) and found.head.seq < record.seq:
            found.head = ChainHead(record.seq, record.head_hash)
