"""On a real broker, through aiokafka's own fetcher: captures are asked for in every fetch, the other
partitions once per interval, and nothing written to either is left unread."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.shell.fetch_lanes import FetchLanes
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka

INTERVAL = 0.2
SLOW_TOPICS = 10


def test_idle_partitions_are_asked_for_once_per_interval_and_every_record_is_read(
    kafka: KafkaBroker, unique: Unique
) -> None:
    fast = unique.topic("faces.raw.v")
    slow = [unique.topic(f"consent.t{n}") for n in range(SLOW_TOPICS)]
    admin = KafkaAdminClient(**kafka.admin_config())
    try:
        admin.create_topics([NewTopic(t, 2, 1) for t in [fast, *slow]])
    finally:
        admin.close()
    asked = asyncio.run(_read_while_writing(kafka.bootstrap_servers, fast, slow))
    # The topic that had a burst is read in every fetch while it lasts (and a second more), the
    # others are idle: their partitions come once per interval (a fetch in flight may delay one;
    # none comes early), so the captures' fetches far outnumber theirs.
    idle = {TopicPartition(t, p) for t in slow if t != slow[3] for p in range(2)}
    assert len(asked) > 3 * len([at for at, tps in asked if tps & idle])
    gaps = [b - a for tp in idle for a, b in itertools.pairwise([at for at, tps in asked if tp in tps])]
    assert gaps and min(gaps) >= INTERVAL * 0.99


async def _read_while_writing(bootstrap: str, fast: str, slow: list[str]) -> list[tuple[float, set[TopicPartition]]]:
    """Write captures at a steady pace and, midway, a burst to one slow topic; read all of it with
    lanes installed; returns each fetch request's time and partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=100)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    asked: list[tuple[float, set[TopicPartition]]] = []
    try:
        consumer.assign([TopicPartition(t, p) for t in [fast, *slow] for p in range(2)])
        await consumer.seek_to_beginning()
        FetchLanes(lambda topic: topic == fast, INTERVAL).install(consumer._fetcher)
        proc = consumer._fetcher._proc_fetch_request

        async def recorded(assignment: Any, node_id: int, request: Any) -> Any:
            asked.append((time.monotonic(), {TopicPartition(t, p) for t, parts in request.topics for p, *_ in parts}))
            return await proc(assignment, node_id, request)

        consumer._fetcher._proc_fetch_request = recorded
        written: set[tuple[str, bytes]] = set()
        read: set[tuple[str, bytes]] = set()

        async def write() -> None:
            for n in range(150):
                await producer.send_and_wait(fast, f"c{n}".encode())
                written.add((fast, f"c{n}".encode()))
                if n == 75:
                    for m in range(300):
                        written.add((slow[3], f"e{m}".encode()))
                        await producer.send(slow[3], f"e{m}".encode())
                await asyncio.sleep(0.01)  # the pace of a camera, not a wait for a condition

        writer = asyncio.create_task(write())
        async with asyncio.timeout(30):
            while not writer.done() or read != written:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    read |= {(r.topic, r.value or b"") for r in records}
        await writer
        assert read == written
    finally:
        await producer.stop()
        await consumer.stop()
    return asked
