"""Where an audit partition's hash chain ends, read from the audit topic itself.

The worker continues a partition's chain from its last record (or from the head a trailing
checkpoint names). Reading the log rather than a table means that after a crash, a restart or
a rebalance the chain stays one line: records redone under at-least-once are appended after
what was already written, and show up in verification as duplicate audit ids, never as a fork.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit.chain import ChainHead
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import stop_quietly
from gateway.settings import Settings

LOOK_BACK = 64  # records read back from the end to find the last chained record


class AuditTail:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.codec = default_codec()

    async def head(self, partition: int) -> ChainHead:
        consumer = AIOKafkaConsumer(**aiokafka_config(self.settings), group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, partition)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            if end == 0:
                return ChainHead()
            consumer.seek(tp, max(0, end - LOOK_BACK))
            last: ChainHead | None = None
            while await consumer.position(tp) < end:
                for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    last = self._head_of(record.value or b"", last)
            if last is None:
                raise RuntimeError(f"audit partition {partition}: no chained record in the last {LOOK_BACK}")
            return last
        finally:
            await stop_quietly(consumer)

    def _head_of(self, value: bytes, previous: ChainHead | None) -> ChainHead | None:
        try:
            record = self.codec.decode_any(value)
        except DecodeError:
            return previous  # not ours to judge here: `facegate audit verify` reports it
        if isinstance(record, AuditRecord):
            return ChainHead(record.seq, record.hash)
        if isinstance(record, AuditCheckpoint):
            return previous or ChainHead(record.seq, record.head_hash)
        return previous
