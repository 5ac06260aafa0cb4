"""The checkpoint watch on a real broker, through aiokafka's own fetcher: it asks only for the
partition it is reading and never for records past the end it reads to, and a read that stopped
at its end loses nothing it had fetched past it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.settings import Settings
from gateway.shell.checkpoint_watch import CheckpointWatch
from tests.support.audit_log import CODEC, LOG, Writer
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka

PARTITIONS = 4


def test_the_watch_fetches_only_the_partition_it_reads_and_loses_nothing(kafka: KafkaBroker, unique: Unique) -> None:
    """With every partition fetched together, aiokafka asked for a partition read to its end on its
    own, the broker held that request waiting for data (500 ms), and the next partition's records
    waited behind it: a read of four busy partitions took 1.6 s, and the checkpointer's own
    checkpoints slipped to every 1.4-1.7 s."""
    topic = unique.topic("audit")
    admin = KafkaAdminClient(**kafka.admin_config())
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        admin.close()
    asked, ends, sizes = asyncio.run(_watch(kafka.bootstrap_servers, topic))
    assert asked and all(len(fetch) == 1 for _, fetch in asked), f"fetches that named other partitions: {asked}"
    assert {tp for _, fetch in asked for tp in fetch} == {TopicPartition(topic, p) for p in range(PARTITIONS)}
    # A fetch at a read's end would be held waiting for data (or bring records the next read must wait behind).
    past = [
        (phase, fetch) for phase, fetch in asked for tp, at in fetch.items() if phase in ends and at >= ends[phase][tp]
    ]
    assert not past, f"fetches at or past the end being read to: {past}"
    assert sizes == {
        "first": dict.fromkeys(range(PARTITIONS), 300),
        "stopped short": dict.fromkeys(range(PARTITIONS), 300),  # the next checkpoint lies past that read's end
        "then": dict.fromkeys(range(PARTITIONS), 900),
    }


Fetch = dict[TopicPartition, int]  # a fetch request: each partition asked for, from which offset


async def _watch(
    bootstrap: str, topic: str
) -> tuple[list[tuple[str, Fetch]], dict[str, Fetch], dict[str, dict[int, int]]]:
    """Two rounds of records and checkpoints, each read by the watch (the second also by reads that
    stop short of it first); returns each fetch request (by phase), the ends read to and the sizes found."""
    watch = CheckpointWatch(Settings(bootstrap_servers=bootstrap, audit_log_name=LOG), topic, PARTITIONS)
    assert await watch.read() == {}  # the topic is empty: this starts the watch's consumer
    consumer: Any = watch._consumer
    proc = consumer._fetcher._proc_fetch_request
    asked: list[tuple[str, Fetch]] = []
    phase = "writing"

    async def recorded(assignment: Any, node_id: int, request: Any) -> Any:
        asked.append((phase, {TopicPartition(t, p): at for t, parts in request.topics for p, at, *_ in parts}))
        return await proc(assignment, node_id, request)

    consumer._fetcher._proc_fetch_request = recorded
    writer, sizes, written = Writer(partitions=PARTITIONS), {}, dict.fromkeys(range(PARTITIONS), 0)
    ends: dict[str, Fetch] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1 << 20, linger_ms=5)
    await producer.start()
    try:

        async def round_of(records: int) -> None:
            for p in range(PARTITIONS):
                writer.records(p, records)
            writer.sign()
            for p, values in writer.log.items():
                for value in values[written[p] :]:
                    await producer.send(topic, value, key=_key(value), partition=p)
                written[p] = len(values)
            await producer.flush()

        def found() -> dict[int, int]:
            return {p: c.size for p, c in watch.newest.items()}

        async def read(name: str) -> None:
            nonlocal phase
            phase, ends[name] = name, {TopicPartition(topic, p): n for p, n in written.items()}
            await watch.read()
            sizes[name] = found()

        await round_of(300)
        await read("first")
        await round_of(600)
        phase = "stopped short"
        for p in range(PARTITIONS):  # as a read whose end was taken before these were written
            tp = TopicPartition(topic, p)
            await watch._read(consumer, tp, None, await consumer.position(tp) + 1)
        sizes[phase] = found()
        # Held, what they fetched past their ends would keep the next partition's fetch waiting.
        assert not consumer._fetcher._records, (
            f"records held after reads that stopped short: {consumer._fetcher._records}"
        )
        await read("then")
    finally:
        await producer.stop()
        await watch.stop()
    return asked, ends, sizes


def _key(value: bytes) -> bytes:
    record = CODEC.decode_any(value)
    if isinstance(record, AuditCheckpoint):
        return record.checkpoint_id.encode()
    assert isinstance(record, AuditRecord)
    return record.audit_id.encode()
