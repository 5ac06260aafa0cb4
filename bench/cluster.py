"""Benchmark: the FaceGate worker on three brokers against one (issue 20), in one run, same records.

Each topology is a `KafkaCluster` as `facegate broker --engine kafka --nodes N` starts it (a
dedicated KRaft controller and N brokers, the same heap and settings), started on its own while
the other is stopped. On three brokers every topic has three replicas and min.insync.replicas 2
(FACEGATE_REPLICATION_FACTOR=3, the durable defaults), so every acknowledged write was copied to
a second broker; on one broker every topic has one. The worker's producer is idempotent with
acks=all on both. Per topology:

- throughput: the same N captures written to their vendors' capture topics (`faces.raw.<vendor>`)
  before counting, decided by one worker;
  captures per second from the first to the last capture's audit record (broker timestamps);
- latency: then the same M further captures sent at a steady R per second (below what the worker
  can do), each capture's latency from its append to its capture topic (the broker's LogAppendTime)
  to its audit record's timestamp: p50, p99 and max.

On this machine's two shared cores the three brokers' JVMs, the worker and this process compete
for the same CPUs: the difference mostly measures that contention, not replication over a network.
Usage:
    python -m bench.cluster [--events 20000] [--paced 3000] [--rate 100]
Writes bench/results/cluster.json and cluster.md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.pipeline import Payload, payloads_of
from bench.results import cpu_seconds, rss_bytes, write_results
from bench.scratch import scratch
from gateway.brokers.apache_kafka import KafkaCluster, fetch_kafka
from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.records import decided_a_capture
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import assign_all, partitions_of, stop_quietly
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import VENDORS, Traffic, build_world
from gateway.sdk.simulator import publish_world
from gateway.settings import Settings
from gateway.shell.local import LocalWorker

PARTITIONS = 4
TENANTS = ["acme", "beta"]
CODEC = default_codec()


def _payloads(events: int, paced: int) -> tuple[list[Payload], list[Payload]]:
    """The same captures for every topology: a backlog and a paced stream after it."""
    payloads = payloads_of(Traffic(build_world(seed=77), seed=79).take(events + paced))
    return payloads[:events], payloads[events:]


async def _write(bootstrap: str, names: TopicNames, payloads: list[Payload], rate: float | None = None) -> None:
    """Write captures, each to its vendor's topic, at once or at `rate` per second (acks=all,
    idempotent, as the SDK would)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        started = time.monotonic()
        for n, (key, value, vendor) in enumerate(payloads):
            await producer.send(names.captures(vendor), value, key=key)
            if rate is not None and (ahead := (n + 1) / rate - (time.monotonic() - started)) > 0:
                await asyncio.sleep(ahead)  # pacing to the requested rate
        await producer.flush()
    finally:
        await producer.stop()


async def _audit_times(bootstrap: str, topic: str, n: int, timeout: float) -> dict[str, float]:
    """Broker timestamp (s) of each capture's audit record, once `n` captures are decided."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    times: dict[str, float] = {}
    try:
        await assign_all(consumer, topic)
        async with asyncio.timeout(timeout):
            while len(times) < n:
                for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    for r in records:
                        audit = CODEC.decode_any(r.value or b"")
                        if isinstance(audit, AuditRecord) and decided_a_capture(audit.event_id):
                            times.setdefault(audit.event_id, r.timestamp / 1000)
    finally:
        await stop_quietly(consumer)
    return times


async def _append_times(bootstrap: str, topics: list[str], n: int, timeout: float) -> dict[str, float]:
    """The capture topics' append time (LogAppendTime, s) of each decodable capture, by event id."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    times: dict[str, float] = {}
    seen = 0
    try:
        partitions = [tp for topic in topics for tp in await partitions_of(consumer, topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(timeout):
            while seen < n:
                for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    seen += len(records)
                    for r in records:
                        try:
                            event_id = getattr(CODEC.decode_any(r.value or b""), "event_id", None)
                        except DecodeError:
                            continue
                        if event_id is not None:
                            times.setdefault(event_id, r.timestamp / 1000)
    finally:
        await stop_quietly(consumer)
    return times


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


def measure(
    cluster: KafkaCluster, backlog: list[Payload], paced: list[Payload], rate: float, work: Path
) -> dict[str, Any]:
    """One worker on `cluster`: the backlog's throughput, then the paced stream's latency."""
    brokers = len(cluster.nodes)
    bootstrap = cluster.bootstrap_servers
    settings = Settings(
        bootstrap_servers=bootstrap, topic_prefix=f"bench.{uuid.uuid4().hex[:8]}.", partitions=PARTITIONS,
        replication_factor=min(3, brokers), tenants=TENANTS, vendors=list(VENDORS),
    )  # fmt: skip
    ensure_gateway_topics(settings, TENANTS)
    names = TopicNames(settings.topic_prefix)
    people = build_world(seed=77)
    worker = LocalWorker(work / f"worker-{brokers}.log", {
        "FACEGATE_BOOTSTRAP_SERVERS": bootstrap, "FACEGATE_TOPIC_PREFIX": settings.topic_prefix,
        "FACEGATE_APP_ID": f"bench-cluster-{brokers}-{uuid.uuid4().hex[:8]}", "FACEGATE_PARTITIONS": str(PARTITIONS),
        "FACEGATE_REPLICATION_FACTOR": str(settings.replication_factor), "FACEGATE_TENANTS": json.dumps(TENANTS),
        "FACEGATE_VENDORS": json.dumps(list(VENDORS)), "FACEGATE_CACHE_DIR": str(work / "cache"), "FACEGATE_KEYRING": Keyring.generate(TENANTS).export(),
        "FACEGATE_WORKER_LOGLEVEL": "warn",
    })  # fmt: skip
    worker.start(timeout=180)
    try:

        async def world() -> None:
            async with FaceGateProducer(settings) as producer:
                await publish_world(producer, people)
            await asyncio.to_thread(worker.wait_for_enrolled, len(people.enrollments), 120)

        asyncio.run(world())
        cpu_before = cpu_seconds(worker.process.pid or 0)
        asyncio.run(_write(bootstrap, names, backlog))
        decided = asyncio.run(_audit_times(bootstrap, names.audit, len(backlog), 900))
        cpu = cpu_seconds(worker.process.pid or 0) - cpu_before
        span = max(decided.values()) - min(decided.values())
        asyncio.run(_write(bootstrap, names, paced, rate))
        everything = len(backlog) + len(paced)
        decided = asyncio.run(_audit_times(bootstrap, names.audit, everything, 900))
        captures = [names.captures(vendor) for vendor in VENDORS]
        appended = asyncio.run(_append_times(bootstrap, captures, everything, 300))
        paced_ids = {key.decode() for key, *_ in paced}
        latencies = [decided[e] - appended[e] for e in paced_ids if e in decided and e in appended]
        rss = rss_bytes(worker.process.pid or 0)
    finally:
        worker.stop()
    return {
        "brokers": brokers, "replication_factor": settings.replication_factor,
        "min_insync_replicas": min(settings.min_insync_replicas, settings.replication_factor),
        "events": len(backlog), "captures_per_second": len(backlog) / max(span, 1e-6),
        "worker_cpu_seconds_per_1000": 1000 * cpu / len(backlog),
        "paced": len(paced), "rate": rate, "latency_measured": len(latencies),
        "latency_p50_ms": 1000 * _pct(latencies, 50), "latency_p99_ms": 1000 * _pct(latencies, 99),
        "latency_max_ms": 1000 * max(latencies, default=0.0), "worker_rss_bytes": rss,
        "broker_rss_bytes": sum(cluster.rss_bytes().values()),
    }  # fmt: skip


def run(events: int, paced_count: int, rate: float, work: Path) -> dict[str, Any]:
    backlog, paced = _payloads(events, paced_count)
    defaults = Settings()
    libs = fetch_kafka(defaults.cache_dir, defaults.kafka_version)
    rows = []
    for brokers in (3, 1):
        cluster = KafkaCluster(libs, work / f"cluster-{brokers}", brokers=brokers)
        cluster.start(timeout=240)
        try:
            rows.append(measure(cluster, backlog, paced, rate, work))
        finally:
            cluster.stop()
    record_bytes = sum(len(v) for _, v, _ in backlog) // max(1, len(backlog))
    vendors = {v: sum(1 for *_, vendor in backlog if vendor == v) for v in VENDORS}  # of the backlog
    return {
        "record_bytes": record_bytes, "partitions": PARTITIONS, "vendors": vendors, "load_average": _loadavg(), "rows": rows,
    }  # fmt: skip


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    first = rows[0]
    lines = [
        f"# The worker on three brokers against one ({first['events']:,} captures of ~{result['record_bytes']:,} bytes, "
        f"{result['partitions']} partitions, one run; captures on their vendors' topics: "
        + ", ".join(f"faces.raw.{v} {n:,}" for v, n in result.get("vendors", {}).items())
        + ")",
        "",
        "| brokers | replication / min ISR | captures/s (backlog) | worker CPU-s per 1,000 | latency p50 | p99 | max "
        f"(paced {first['paced']:,} at {first['rate']:.0f}/s) | brokers' RSS |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['brokers']} | {r['replication_factor']} / {r['min_insync_replicas']} | {r['captures_per_second']:,.0f} "
            f"| {r['worker_cpu_seconds_per_1000']:.2f} | {r['latency_p50_ms']:,.0f} ms | {r['latency_p99_ms']:,.0f} ms "
            f"| {r['latency_max_ms']:,.0f} ms | {r['broker_rss_bytes'] / 2**20:,.0f} MiB |"
        )
    by = {r["brokers"]: r for r in rows}
    if 1 in by and 3 in by:
        lines += [
            "",
            f"Three brokers: {by[3]['captures_per_second'] / by[1]['captures_per_second']:.2f}x the throughput of one, "
            f"p99 {by[3]['latency_p99_ms'] / max(by[1]['latency_p99_ms'], 1e-6):.2f}x. Both on the same two shared "
            f"cores (load average {result['load_average']} at the end): three JVMs, the worker and the writer compete "
            "for them, so this mostly measures that contention, not replication over a network. Latency is from a "
            "capture's append to its vendor's capture topic to its audit record, acks=all and idempotent on both.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="captures of the throughput backlog")
    parser.add_argument("--paced", type=int, default=3_000, help="captures of the paced latency stream")
    parser.add_argument("--rate", type=float, default=100.0, help="captures per second of the paced stream")
    args = parser.parse_args()
    with scratch("facegate-bench-cluster-") as work:
        result = run(args.events, args.paced, args.rate, work)
        write_results("cluster", result, markdown(result))


if __name__ == "__main__":
    main()
