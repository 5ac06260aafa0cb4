"""Benchmark: the FaceGate pipeline against two baselines, in one run, on one broker, same records.

(a) a plain aiokafka consume -> produce loop, (b) a Faust agent that forwards unchanged,
(c) the FaceGate worker deciding every capture (synthetic day: the scenario's decision mix).
Each consumes the same pre-produced captures from its own copy of the input topic; throughput is
records out per second of wall time from the first to the last output. Reports events/s, the
ratios c/b and c/a, and the worker's resident memory. Usage:
    python -m bench.pipeline [--events 20000] [--bootstrap host:port]
Without --bootstrap it starts its own Apache Kafka (Maven Central, as the tests do).
Writes bench/results/pipeline.json and pipeline.md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from bench.broker import on_broker
from bench.results import rss_bytes, write_results
from gateway.contract.codec import default_codec
from gateway.contract.topics import TopicNames
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import assign_all, stop_quietly
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Traffic, build_world
from gateway.sdk.simulator import publish_world
from gateway.settings import Settings
from gateway.shell.local import LocalWorker

PARTITIONS = 4


def run_tag() -> str:
    return uuid.uuid4().hex[:8]


def _topics(bootstrap: str, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        admin.close()


async def _fill(bootstrap: str, topics: list[str], payloads: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        for topic in topics:
            for key, value in payloads:
                await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def _count_until(bootstrap: str, topic: str, n: int, timeout: float) -> tuple[float, float]:
    """Wall-clock (first, last) arrival of n records on `topic`, by the records' own timestamps."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    seen, first, last = 0, float("inf"), 0.0
    try:
        await assign_all(consumer, topic)
        async with asyncio.timeout(timeout):
            while seen < n:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        seen += 1
                        first, last = min(first, r.timestamp / 1000), max(last, r.timestamp / 1000)
    finally:
        await stop_quietly(consumer)
    return first, last


async def _aiokafka_loop(bootstrap: str, source: str, sink: str, n: int) -> None:
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=bootstrap, group_id=f"{source}-loop", auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    moved = 0
    try:
        while moved < n:
            for records in (await consumer.getmany(timeout_ms=500, max_records=2000)).values():
                for r in records:
                    await producer.send(sink, r.value, key=r.key)
                    moved += 1
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()


def baseline_spans(
    bootstrap: str, work: Path, payloads: list[tuple[bytes, bytes]]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(a) a plain aiokafka consume -> produce loop and (b) a Faust agent forwarding unchanged,
    each over its own copy of the same records: their (first, last) output times."""
    events = len(payloads)
    t = f"bench.{run_tag()}"  # a run's own topics and groups: runs on one broker never mix
    _topics(bootstrap, [f"{t}.in.a", f"{t}.out.a", f"{t}.in.b", f"{t}.out.b"])
    asyncio.run(_fill(bootstrap, [f"{t}.in.a", f"{t}.in.b"], payloads))
    asyncio.run(_aiokafka_loop(bootstrap, f"{t}.in.a", f"{t}.out.a", events))
    loop_span = asyncio.run(_count_until(bootstrap, f"{t}.out.a", events, 600))
    forward = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("forward_app.py")), bootstrap, f"{t}-forward", f"{t}.in.b", f"{t}.out.b", str(work / "faust")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        faust_span = asyncio.run(_count_until(bootstrap, f"{t}.out.b", events, 900))
    finally:
        forward.terminate()
        forward.wait(30)
    return loop_span, faust_span


def _rate(n: int, span: tuple[float, float]) -> float:
    return n / max(1e-6, span[1] - span[0])


def run(events: int, bootstrap: str, work: Path) -> dict[str, Any]:
    world = build_world(seed=77)
    items = Traffic(world, seed=78).take(events)
    codec = default_codec()
    payloads = [
        (
            (i.capture.event_id if i.capture else f"m{n}").encode(),
            codec.encode(i.capture) if i.capture else (i.raw or b""),
        )
        for n, i in enumerate(items)
    ]
    loop_span, faust_span = baseline_spans(bootstrap, work, payloads)
    settings = Settings(
        bootstrap_servers=bootstrap,
        topic_prefix=f"bench.{run_tag()}.c.",
        partitions=PARTITIONS,
        tenants=["acme", "beta"],
    )
    ensure_gateway_topics(settings, ["acme", "beta"])
    names = TopicNames(settings.topic_prefix)

    # (c) FaceGate: the world first, then the same captures
    worker = LocalWorker(work / "worker.log", {
        "FACEGATE_BOOTSTRAP_SERVERS": bootstrap, "FACEGATE_TOPIC_PREFIX": settings.topic_prefix,
        "FACEGATE_APP_ID": f"bench-{run_tag()}-facegate", "FACEGATE_PARTITIONS": str(PARTITIONS),
        "FACEGATE_TENANTS": json.dumps(["acme", "beta"]), "FACEGATE_CACHE_DIR": str(work / "cache"),
        "FACEGATE_KEYRING": Keyring.generate(["acme", "beta"]).export(), "FACEGATE_WORKER_LOGLEVEL": "warn",
    })  # fmt: skip
    worker.start()
    try:

        async def world_then_captures() -> None:
            async with FaceGateProducer(settings) as producer:
                await publish_world(producer, world)
            await asyncio.to_thread(worker.wait_for_enrolled, len(world.enrollments))
            await _fill(bootstrap, [names.raw], payloads)

        asyncio.run(world_then_captures())
        # Audit records per decision (plus a few signed checkpoints, which arrive interleaved).
        gateway_span = asyncio.run(_count_until(bootstrap, names.audit, events, 900))
        rss = rss_bytes(worker.process.pid or 0)
    finally:
        worker.stop()

    a, b, c = _rate(events, loop_span), _rate(events, faust_span), _rate(events, gateway_span)
    return {
        "events": events, "partitions": PARTITIONS, "record_bytes": sum(len(v) for _, v in payloads) // events,
        "events_per_second": {"aiokafka_loop": a, "faust_forward": b, "facegate": c},
        "ratios": {"facegate_over_faust": c / b, "facegate_over_aiokafka": c / a},
        "facegate_worker_rss_bytes": rss, "enrolled_per_tenant": len(world.enrollments) // 2,
        "not_yet_measured": ["p50/p99 latency at half the maximum rate", "100k and 1M enrolled", "two workers"],
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    r, q = result["events_per_second"], result["ratios"]
    return "\n".join([
        f"# Pipeline throughput ({result['events']} captures of ~{result['record_bytes']} bytes, {result['partitions']} partitions, one process each)",
        "", "| | events/s |", "|---|---:|",
        f"| (a) aiokafka consume -> produce | {r['aiokafka_loop']:,.0f} |",
        f"| (b) Faust agent forwarding unchanged | {r['faust_forward']:,.0f} |",
        f"| (c) FaceGate worker, full decision | {r['facegate']:,.0f} |",
        "", f"c/b = {q['facegate_over_faust']:.2f}, c/a = {q['facegate_over_aiokafka']:.3f}; "
        f"worker RSS {result['facegate_worker_rss_bytes'] / 2**20:.0f} MiB; {result['enrolled_per_tenant']} enrolled per tenant.", "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="facegate-bench-"))
    result = on_broker(args.bootstrap, work, lambda bootstrap: run(args.events, bootstrap, work))
    write_results("pipeline", result, markdown(result))


if __name__ == "__main__":
    main()
