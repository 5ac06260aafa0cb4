"""Paced baselines without a framework: an aiokafka hop in a process of its own.

The suite paces FaceGate at fractions of its backlog rate; the CPU a pipeline spends per event at
such a rate, and its latency, are set as much by each fetch and produce round trip as by the work
done per event. These hops are the floor a Python consume -> produce path pays on the same broker
and host at those rates:

- `one`: each fetched record written once, as a forwarder does;
- `two`: each record written, and once Kafka acknowledged those, written again to a second topic:
  FaceGate's pattern (its governed events or dead letters, then its audit records), without any
  decision.

Each round: `getmany` (up to 1,000 records; 8 MiB partition fetches, fetches answered after 100 ms
or the first byte, as the worker's), one producer batch per source partition
(`create_batch`/`send_batch`, up to 1 MiB, linger 0, acks=all, idempotent, as the worker produces),
every acknowledgement awaited; offsets committed after a round's acknowledgements, every 2.8 s
(Faust's default commit interval, which the worker keeps). The second write is the input again
(~2.1 KB), more than twice an audit record (~0.9 KB): no lighter than FaceGate's second write.

Usage (the suite starts it): python bench/hop_app.py BOOTSTRAP GROUP SOURCES SINK one|two
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

COMMIT_SECONDS = 2.8
SETTINGS = (
    "getmany 1,000, partition fetch 8 MiB, fetch wait 100 ms, create_batch/send_batch per partition (1 MiB), "
    "linger 0, acks=all, idempotent, commit every 2.8 s after acknowledgements"
)


def second_topic(sink: str) -> str:
    return f"{sink}.second"


async def send_all(
    producer: AIOKafkaProducer, fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]], topic: str
) -> None:
    """Every fetched record to `topic` (the source's partition), one batch per partition; waits for
    every acknowledgement."""
    acks = []
    for tp, records in fetched.items():
        batch = producer.create_batch()
        for r in records:
            if batch.append(key=r.key, value=r.value, timestamp=None) is None:  # full: send, start another
                acks.append(await producer.send_batch(batch, topic, partition=tp.partition))
                batch = producer.create_batch()
                batch.append(key=r.key, value=r.value, timestamp=None)
        acks.append(await producer.send_batch(batch, topic, partition=tp.partition))
    await asyncio.gather(*acks)


async def hop(bootstrap: str, group: str, sources: Sequence[str], sink: str, writes: int) -> None:
    consumer = AIOKafkaConsumer(
        *sources, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
        fetch_max_bytes=64 << 20, max_partition_fetch_bytes=8 << 20, fetch_max_wait_ms=100,
    )  # fmt: skip
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0, max_batch_size=1 << 20
    )
    await consumer.start()
    await producer.start()
    committed = time.monotonic()
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=500, max_records=1000)
            if fetched:
                await send_all(producer, fetched, sink)
                if writes == 2:
                    await send_all(producer, fetched, second_topic(sink))
            if time.monotonic() - committed >= COMMIT_SECONDS:
                await consumer.commit()
                committed = time.monotonic()
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    bootstrap, group, sources, sink, writes = sys.argv[1:6]  # sources: comma-separated topics
    asyncio.run(hop(bootstrap, group, sources.split(","), sink, {"one": 1, "two": 2}[writes]))
