"""Retention the disk obeys (issue 16), on Apache Kafka: with the topic configs the gateway derives
(gateway/contract/topics.py: deleting_after, compacting_within) for retentions of seconds, a raw
capture's template bytes are gone from every file of the broker's partition directories within
retention x 1.2 + the broker's retention check interval (segment rolled, deleted, the .deleted
file removed), and an erased (tombstoned) enrolled template's bytes are gone once compacted within
the erased bound. The broker is this module's own, its check intervals lowered to half a second
and its first retention check not delayed (the session broker's are a second, after 30 s; a
production broker's are 5 minutes and 15 s: see docs/operations.md)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from gateway.brokers.apache_kafka import KafkaBroker, fetch_kafka
from gateway.brokers.process import BrokerError
from gateway.contract.codec import default_codec
from gateway.contract.models import EnrolledTemplate, FaceCaptured
from gateway.contract.topics import TopicKind, TopicNames, TopicSpec, compacting_within, deleting_after
from gateway.contract.vocabulary import Occlusion, Purpose
from gateway.kafka.provisioning import admin_client, ensure_topics
from gateway.settings import Settings
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka

CHECK_MS = 500  # the broker's log.retention.check.interval.ms and log.cleaner.backoff.ms
RAW_MS = 10_000  # the raw topic's retention in this test
ERASED_BOUND_MS = 6_000
CODEC = default_codec()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    defaults = Settings()
    config = {
        "log.retention.check.interval.ms": str(CHECK_MS),
        "log.cleaner.backoff.ms": str(CHECK_MS),
        "log.initial.task.delay.ms": "0",  # the first retention check 30 s after start, by default
    }
    try:
        kafka = KafkaBroker(fetch_kafka(defaults.cache_dir, defaults.kafka_version),
                            tmp_path_factory.mktemp("retention"), extra_config=config)  # fmt: skip
        kafka.start(timeout=120)
    except BrokerError as exc:
        pytest.fail(f"Apache Kafka did not start: {exc}", pytrace=False)
    try:
        yield kafka
    finally:
        kafka.stop()


def on_disk(broker: KafkaBroker, topic: str, needle: bytes) -> list[str]:
    """Files of the topic's partition directories holding `needle`: segments, .deleted and
    .cleaned files alike (bytes awaiting file.delete.delay.ms are still on the disk)."""
    found = []
    for folder in (broker.data_dir / "log").glob(f"{topic}-*"):
        for path in folder.iterdir():
            try:
                if path.is_file() and needle in path.read_bytes():
                    found.append(path.name)
            except FileNotFoundError:
                continue  # deleted while we looked
    return found


def wait_gone(broker: KafkaBroker, topic: str, needle: bytes, deadline_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if not on_disk(broker, topic, needle):
            return time.monotonic() - started
        time.sleep(0.2)  # poll the log directory
    return None


def create(broker: KafkaBroker, specs: list[TopicSpec]) -> None:
    admin = admin_client(Settings(bootstrap_servers=broker.bootstrap_servers))
    try:
        ensure_topics(admin, specs)
    finally:
        admin.close()


async def produce(broker: KafkaBroker, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def test_raw_capture_bytes_leave_the_disk_within_the_retention_bound(broker: KafkaBroker, unique: Unique) -> None:
    names = TopicNames(unique.prefix)
    config = deleting_after(RAW_MS) | {"message.timestamp.type": "LogAppendTime"}
    create(broker, [TopicSpec(names.captures("lumen"), TopicKind.INBOX, 1, 1, config)])
    template = os.urandom(512 * 4 - 4) + b"\x00\x00\x80\x3f"  # float32 values, the last 1.0
    capture = FaceCaptured(
        event_id="evt-retention-1", camera_id="acme-entrance", tenant_id="acme",
        captured_at=datetime.now(UTC) - timedelta(seconds=1), purpose=Purpose.REPEAT_VISITOR_RECOGNITION,
        template=template, template_model="synthetic-512", quality=0.9, occlusion=Occlusion.NONE,
    )  # fmt: skip
    written = time.monotonic()
    asyncio.run(produce(broker, names.captures("lumen"), [(b"evt-retention-1", CODEC.encode(capture))]))
    assert on_disk(broker, names.captures("lumen"), template), (
        "the capture's template is in a segment once acknowledged"
    )

    bound = RAW_MS * 1.2 / 1000 + CHECK_MS / 1000
    gone = wait_gone(broker, names.captures("lumen"), template, bound + 30)
    assert gone is not None, on_disk(broker, names.captures("lumen"), template)
    elapsed = time.monotonic() - written
    print(f"raw capture gone from disk after {elapsed:.1f} s (retention {RAW_MS / 1000:g} s, bound {bound:g} s)")
    assert elapsed <= bound + 2.0  # 2 s: the polling and the test's own steps
    assert elapsed >= RAW_MS / 1000  # retention is kept, not cut short


def test_an_erased_template_leaves_the_disk_after_compaction(broker: KafkaBroker, unique: Unique) -> None:
    names = TopicNames(unique.prefix)
    create(broker, [TopicSpec(names.enrolled, TopicKind.STATE, 1, 1, compacting_within(ERASED_BOUND_MS))])
    code = os.urandom(128)

    def enrolled(subject: str, code: bytes) -> bytes:
        return CODEC.encode(
            EnrolledTemplate(
                tenant_id="acme", subject_id=subject, template_model="synthetic-512", key_version=1, code=code,
                enrolled_at=datetime.now(UTC),
            )
        )  # fmt: skip

    kept = os.urandom(128)
    asyncio.run(produce(broker, names.enrolled, [(b"acme/kept", enrolled("kept", kept)),
                                                  (b"acme/erased", enrolled("erased", code))]))  # fmt: skip
    assert on_disk(broker, names.enrolled, code)
    erased_at = time.monotonic()
    asyncio.run(produce(broker, names.enrolled, [(b"acme/erased", None)]))  # the erasure's tombstone

    # The enrolled topic is written all the time in a deployment (enrollments, re-enrollments,
    # erasures): an append after segment.ms rolls the segment, which the cleaner then compacts.
    # An idle topic's active segment never rolls, whatever segment.ms says (Kafka rolls on append).
    deadline = ERASED_BOUND_MS / 1000 + 30
    gone = None
    n = 0
    while gone is None and time.monotonic() - erased_at < deadline:
        n += 1
        asyncio.run(produce(broker, names.enrolled, [(f"acme/other-{n}".encode(), enrolled(f"other-{n}", b"x"))]))
        gone = wait_gone(broker, names.enrolled, code, 1.0)
    assert gone is not None, on_disk(broker, names.enrolled, code)
    elapsed = time.monotonic() - erased_at
    # Rolled by the first append after segment.ms (half the bound), compacted at the cleaner's next
    # look, the swapped-out segment deleted file.delete.delay.ms (the other half) later.
    bound = ERASED_BOUND_MS / 1000 + CHECK_MS / 1000
    print(f"erased template gone from disk after {elapsed:.1f} s (bound {bound:g} s)")
    assert elapsed <= bound + 2.0  # 2 s: the polling and the appends
    assert on_disk(broker, names.enrolled, kept), "compaction keeps the templates not erased"
