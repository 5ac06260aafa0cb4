"""Reading whole topics without a consumer group: regulators' tools, the demo, the tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

Records = list[ConsumerRecord[bytes, bytes]]

# At most this many records per getmany for a reader that decodes on the worker's event loop
# (~35 ms of applying on a slow host): aiokafka's getmany returns without suspending while its
# prefetch holds records, so such a reader must yield by itself between batches or /healthz and
# every batch wait until it is done (the feed reader loading 1M enrolled per tenant held the loop
# 10-14 s at a time: bench/PROFILES.md).
READ_BATCH = 200
# A reader that gets no record for this long fails; a long read that keeps getting them does not.
STALLED_AFTER = 120.0


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, attempts: int = 50) -> list[TopicPartition]:
    """Every partition of `topic`, as a started consumer without a group can learn them."""
    for _ in range(attempts):
        consumer._client.add_topic(topic)  # a group-less consumer only learns topics it asks for
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await asyncio.sleep(0.1)  # metadata for a just-created topic; bounded by attempts
    raise LookupError(f"topic {topic} does not exist: run `facegate topics create`")


async def assign_all(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of `topic` to a started consumer, from the beginning."""
    partitions = await partitions_of(consumer, topic)
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return partitions


async def apply_until(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    end: int,
    apply: Callable[[ConsumerRecord[bytes, bytes]], None],
    stalled_after: float = STALLED_AFTER,
) -> None:
    """Apply each record of `tp` from the consumer's position until it reaches `end` (the last
    batch may reach past it), letting the event loop run between every READ_BATCH records. Raises
    TimeoutError when no record came for `stalled_after` seconds: a long read is not a stall.
    Returns without letting the loop run after the last batch: the fetcher, had it run then,
    would already be asking for records past `end` (see checkpoint_watch.py)."""
    progress = time.monotonic()
    while await consumer.position(tp) < end:
        await asyncio.sleep(0)  # getmany does not yield while the fetcher holds records
        records = (await consumer.getmany(tp, timeout_ms=500, max_records=READ_BATCH)).get(tp, [])
        for record in records:
            apply(record)
        if records:
            progress = time.monotonic()
        elif time.monotonic() - progress > stalled_after:
            raise TimeoutError(f"{tp.topic}[{tp.partition}]: no record for {stalled_after:.0f} s before offset {end}")


async def stop_quietly(consumer: AIOKafkaConsumer) -> None:
    # aiokafka may surface the cancellation of its own commit-reset task when a consumer
    # without a group is stopped right after starting; nothing of ours is cancelled here.
    with contextlib.suppress(asyncio.CancelledError):
        await consumer.stop()


async def read_topic(
    config: dict[str, Any],
    topic: str,
    until: Callable[[Records], bool] | None = None,
    timeout: float = 60.0,
) -> Records:
    """All records of a topic: up to the end offsets at the start, or until `until` holds."""
    consumer = AIOKafkaConsumer(**config, group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: Records = []
    try:
        partitions = await assign_all(consumer, topic)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(timeout):
            while True:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records += batch
                if until is not None:
                    if until(records):
                        return records
                    continue
                positions = [await consumer.position(tp) for tp in partitions]
                if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                    return records
    finally:
        await stop_quietly(consumer)


async def offset_range(config: dict[str, Any], topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """Every partition's log-start offset (what retention left) and end offset."""
    consumer = AIOKafkaConsumer(**config, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        starts, ends = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
    finally:
        await stop_quietly(consumer)
    return {tp.partition: starts[tp] for tp in partitions}, {tp.partition: ends[tp] for tp in partitions}


async def committed_offsets(config: dict[str, Any], group_id: str) -> dict[tuple[str, int], int]:
    """A consumer group's committed offsets, by (topic, partition): what a restart resumes from."""
    admin = AIOKafkaAdminClient(**config)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def list_topics(config: dict[str, Any]) -> set[str]:
    consumer = AIOKafkaConsumer(**config)
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await stop_quietly(consumer)
