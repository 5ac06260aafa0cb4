"""Faults on Apache Kafka: a worker killed with SIGKILL mid-stream, the broker down for 30 s,
a second worker joining and leaving. Afterwards every input has exactly one decision after
dedupe by event id, every governed output matches a decision, and the audit verifies."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import pytest

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.kafka.reading import list_topics
from gateway.sdk.scenario import Capture, Traffic
from gateway.shell.local import LocalWorker
from tests.support.deployment import Deployment
from tests.support.kafka import Unique
from tests.support.leaks import LeakFinder, keyring_keys
from tests.support.losses import assert_nothing_lost, decided

pytestmark = pytest.mark.kafka
OUTAGE_SECONDS = 30


def assert_no_leaks(d: Deployment, items: list[Capture], running: list[LocalWorker]) -> None:
    """No template (nor values close to one), image or key on any topic but raw captures and
    enrollments, in any worker log line, or on /metrics."""
    captured = [i.capture for i in items if i.capture is not None]
    finder = LeakFinder(
        [c.template for c in captured[:: max(1, len(captured) // 400)]] + [e.template for e in d.world.enrollments],
        [c.image for c in captured if c.image is not None][:1],
        keyring_keys(d.keyring),
    )
    blobs: dict[str, bytes] = {}
    for topic in asyncio.run(list_topics({"bootstrap_servers": d.kafka.bootstrap_servers})):
        if topic.startswith(d.names.prefix) and d.names.kind_of(topic) not in ("faces.raw", "enroll"):  # raw inputs
            blobs[topic] = b"".join((r.key or b"") + (r.value or b"") for r in d.read(topic, timeout=120))
    assert d.names.audit in blobs and d.names.enrolled in blobs
    for log in d.workdir.glob("worker-*.log"):
        blobs[log.name] = log.read_bytes()
    for n, worker in enumerate(running):
        blobs[f"/metrics of worker {n}"] = worker.get("/metrics")[1].encode()
    assert finder.leaks(blobs) == []


@pytest.mark.timeout(900)
def test_kill_9_in_a_50000_event_stream_loses_nothing(kafka: KafkaBroker, unique: Unique, tmp_path: Path) -> None:
    d = Deployment(kafka, unique, tmp_path, partitions=4)
    worker = d.start_worker()
    asyncio.run(d.publish_world(worker))
    items = Traffic(d.world, seed=50).take(50_000)
    asyncio.run(d.send(items))
    worker.wait_until(lambda: decided(worker) >= 15_000, 300, "15,000 decisions")
    worker.process._signal_group(signal.SIGKILL)  # no shutdown, no final checkpoint, no commit
    worker.process.wait()
    restarted = d.start_worker()
    assert_nothing_lost(d, items)
    assert_no_leaks(d, items, [restarted])
    assert d.stop_all()[-1] == 0


@pytest.mark.timeout(900)
def test_a_worker_stopped_mid_batch_commits_only_what_it_decided(
    kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    """SIGTERM mid-stream, three times: only decided events may be committed, or a restart skips
    the rest; and a stop finishes the batch in flight and commits it, so a restart redoes nothing."""
    d = Deployment(kafka, unique, tmp_path, partitions=4)
    worker = d.start_worker()
    asyncio.run(d.publish_world(worker))
    items = Traffic(d.world, seed=53).take(20_000)  # three stops, each after 1,000 more decisions, still mid-stream
    asyncio.run(d.send(items))
    for _ in range(3):
        worker.wait_until(lambda: decided(worker) >= 1_000, 300, "1,000 decisions")  # noqa: B023
        assert worker.stop() == 0
        committed, decided_ids = d.committed(), d.decided_ids()
        redo = [
            e
            for e, (t, p, offset) in d.raw_positions().items()
            if e in decided_ids and offset >= committed.get((t, p), 0)
        ]
        assert redo == [], f"{len(redo)} decided events after the committed offsets would be redone"
        worker = d.start_worker()
    assert_nothing_lost(d, items)
    assert worker.stop() == 0


@pytest.mark.timeout(900)
def test_a_30_second_broker_outage_heals_by_itself(
    unique: Unique, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from gateway.brokers.apache_kafka import fetch_kafka
    from gateway.settings import Settings

    defaults = Settings()
    libs = fetch_kafka(defaults.cache_dir, defaults.kafka_version)
    broker = KafkaBroker(libs, tmp_path_factory.mktemp("outage"))
    broker.start()
    try:
        d = Deployment(broker, unique, tmp_path, partitions=4)
        worker = d.start_worker()
        asyncio.run(d.publish_world(worker))
        items = Traffic(d.world, seed=51).take(8_000)
        asyncio.run(d.send(items))
        worker.wait_until(lambda: decided(worker) >= 1_000, 120, "1,000 decisions")
        assert broker.stop() is not None
        time.sleep(OUTAGE_SECONDS)  # the outage itself
        assert worker.running(), "the worker rides out the outage"
        broker = KafkaBroker(libs, broker.data_dir, port=broker.port, controller_port=broker.controller_port)
        broker.start()
        d.kafka = broker
        assert_nothing_lost(d, items)
        assert_no_leaks(d, items, [worker])
        assert worker.running() and d.stop_all() == [0]
    finally:
        broker.stop()


@pytest.mark.timeout(900)
def test_a_worker_joining_and_leaving_mid_stream_loses_nothing(
    kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    d = Deployment(kafka, unique, tmp_path, partitions=4)
    first = d.start_worker()
    asyncio.run(d.publish_world(first))
    items = Traffic(d.world, seed=52).take(12_000)
    # Paced (24 s), so the stream outlasts the second worker's start and stop on a loaded machine:
    # sent at once, the first worker could decide nearly everything before the second joins.
    sender = threading.Thread(target=lambda: asyncio.run(d.send(items, rate=500)))
    sender.start()
    first.wait_until(lambda: decided(first) >= 2_000, 300, "2,000 decisions")
    second = d.start_worker()  # joins: the group rebalances mid-stream
    second.wait_until(lambda: decided(second) >= 500, 300, "the second worker deciding")
    assert sender.is_alive(), "the second worker leaves mid-stream"
    assert second.stop() == 0  # leaves: its partitions go back to the first
    sender.join()
    assert_nothing_lost(d, items)
    assert_no_leaks(d, items, [first])
    assert first.running() and first.stop() == 0
