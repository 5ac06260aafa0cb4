"""Benchmark: the FaceGate pipeline against two baselines, in one run, on one broker, same records.

(a) a plain aiokafka consume -> produce loop, (b) a Faust agent that forwards unchanged,
(c) the FaceGate worker deciding every capture (synthetic day: the scenario's decision mix).
Each consumes the same pre-produced captures from its own copy of the input topics: every capture
on its camera vendor's topic (`faces.raw.<vendor>`, as contract 0.3.0 has it), so each pipeline
reads the same topics and partitions. Throughput is records out per second of wall time from the
first to the last output. Reports events/s, the
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
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from kafka.admin import KafkaAdminClient, NewTopic

from bench.broker import on_broker
from bench.cores import SHARED, Cores
from bench.forward_app import BATCH as BATCH_FORWARD
from bench.forward_app import TUNED
from bench.hop_app import send_all
from bench.results import cpu_seconds, rss_bytes, write_results
from bench.scratch import scratch
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.records import decided_a_capture
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import assign_all, stop_quietly
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Capture, Traffic, World, build_world
from gateway.sdk.simulator import publish_world
from gateway.settings import Settings
from gateway.shell.local import LocalWorker

PARTITIONS = 4
Payload = tuple[bytes, bytes, str]  # key (the event id), the encoded capture, the vendor whose topic it goes to


def run_tag() -> str:
    return uuid.uuid4().hex[:8]


def payloads_of(items: list[Capture], malformed_key: str = "m") -> list[Payload]:
    """The captures as their cameras' vendors send them (a malformed one keyed `<malformed_key><n>`)."""
    codec = default_codec()
    return [
        (
            (i.capture.event_id if i.capture else f"{malformed_key}{n}").encode(),
            codec.encode(i.capture) if i.capture else (i.raw or b""),
            i.vendor,
        )
        for n, i in enumerate(items)
    ]


def vendors_of(payloads: list[Payload]) -> list[str]:
    return sorted({vendor for *_, vendor in payloads})


def _topics(bootstrap: str, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        admin.close()


async def _fill(bootstrap: str, copies: list[TopicNames], payloads: list[Payload]) -> None:
    """Each capture to its vendor's capture topic, under each of the given prefixes (one copy each)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        for names in copies:
            for key, value, vendor in payloads:
                await producer.send(names.captures(vendor), value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def _decides_a_capture(value: bytes | None) -> bool:
    """An audit record of a capture's decision (not the world's consents and enrollments, nor a checkpoint)."""
    audit = default_codec().decode_any(value or b"")
    return isinstance(audit, AuditRecord) and decided_a_capture(audit.event_id)


async def follow(
    bootstrap: str, topic: str, timeout: float, take: Callable[[ConsumerRecord[bytes, bytes]], bool]
) -> None:
    """Hand each record of `topic`, from its start, to `take` until it returns True (it is done);
    a consumer without a group, so every reader sees every record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        await assign_all(consumer, topic)
        async with asyncio.timeout(timeout):
            while True:
                for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                    for record in records:
                        if take(record):
                            return
    finally:
        await stop_quietly(consumer)


async def _count_until(
    bootstrap: str, topic: str, n: int, timeout: float, counted: Callable[[bytes | None], bool] | None = None
) -> tuple[float, float]:
    """Wall-clock (first, last) arrival of n records on `topic` (those `counted`, default all), by the
    records' own timestamps."""
    seen, first, last = 0, float("inf"), 0.0

    def take(r: ConsumerRecord[bytes, bytes]) -> bool:
        nonlocal seen, first, last
        if counted is None or counted(r.value):
            seen += 1
            first, last = min(first, r.timestamp / 1000), max(last, r.timestamp / 1000)
        return seen >= n

    if n > 0:
        await follow(bootstrap, topic, timeout, take)
    return first, last


DURABLE = {"acks": "all"}  # every pipeline here produces as production does
FAST_HOP = {"fetch_max_bytes": 64 << 20, "max_partition_fetch_bytes": 8 << 20, "getmany_max_records": 10_000,
            "producer_max_batch_size": 1 << 20, "linger_ms": 5, **DURABLE}  # fmt: skip


async def _aiokafka_loop(bootstrap: str, sources: list[str], sink: str, n: int) -> None:
    """(a) kept as an extra row: `await send` per record, library defaults but acks=all."""
    consumer = AIOKafkaConsumer(
        *sources, bootstrap_servers=bootstrap, group_id=f"{sink}-loop", auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
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


async def _aiokafka_fast(bootstrap: str, sources: list[str], sink: str, n: int) -> None:
    """(a') the fastest hop written here: getmany of up to 10,000 records with 8 MiB partition
    fetches; per source partition one producer batch (create_batch/append/send_batch, up to
    1 MiB, to the same sink partition); all of a round's batches acknowledged (acks=all) before
    the next getmany, which is where an at-least-once hop would commit."""
    consumer = AIOKafkaConsumer(
        *sources, bootstrap_servers=bootstrap, group_id=f"{sink}-fast", auto_offset_reset="earliest",
        fetch_max_bytes=FAST_HOP["fetch_max_bytes"], max_partition_fetch_bytes=FAST_HOP["max_partition_fetch_bytes"],
    )  # fmt: skip
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=FAST_HOP["producer_max_batch_size"]
    )
    await consumer.start()
    await producer.start()
    moved = 0
    try:
        while moved < n:
            fetched = await consumer.getmany(timeout_ms=500, max_records=FAST_HOP["getmany_max_records"])
            await send_all(producer, fetched, sink)
            moved += sum(len(records) for records in fetched.values())
    finally:
        await producer.stop()
        await consumer.stop()


FORWARDERS = {"faust_tuned": "tuned", "faust_forward": "defaults", "faust_shell": "tuned-shell"}  # forward_app's modes
TUNED_FORWARDERS = ("faust_tuned", "faust_shell")  # (b') and (b''): the goals' ratio is over the faster


def _forwarder(
    bootstrap: str, work: Path, tag: str, sources: list[str], sink: str, name: str, cores: Cores = SHARED
) -> subprocess.Popen[bytes]:
    """The Faust forwarder `name` (FORWARDERS) in a process of its own, started on `cores.own`."""
    with cores.under_test():
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("forward_app.py")), bootstrap, f"{tag}-{name}",
             ",".join(sources), sink, str(work / name), FORWARDERS[name]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip


BASELINES = ("aiokafka_fast", "faust_tuned", "faust_shell", "aiokafka_loop", "faust_forward")
BASELINE_SETTINGS = {
    "aiokafka_fast": "getmany 10,000, partition fetch 8 MiB, create_batch/send_batch per partition (1 MiB), linger 5 ms, acks=all",
    "faust_tuned": f"take_events({BATCH_FORWARD}), sends gathered per batch; " + ", ".join(f"{k}={v}" for k, v in TUNED.items()) + ", acks=all, no terminal spinner (root logger at WARN)",
    "faust_shell": "as (b'), on the worker's own Faust consumer: served on the app's event loop, the quick hand-off, "
    "fetches answered after 100 ms or the first byte (gateway/shell/worker.py `fetching`)",
    "aiokafka_loop": "await send per record, library defaults (16 KB batch), linger 5 ms, acks=all",
    "faust_forward": "await send per event, library defaults, acks=all, no terminal spinner (root logger at WARN)",
}  # fmt: skip


def baseline_spans(
    bootstrap: str, work: Path, payloads: list[Payload], only: tuple[str, ...] = BASELINES, cores: Cores = SHARED
) -> dict[str, tuple[float, float]]:
    """Each baseline over its own copy of the same records, one after the other: their (first,
    last) output times. Each reads every vendor's capture topic (as the worker does) under a prefix
    of its own and writes one record per input to one output topic; each runs on `cores.own`."""
    events = len(payloads)
    t = f"bench.{run_tag()}"  # a run's own topics and groups: runs on one broker never mix
    copies = {name: TopicNames(f"{t}.in.{name}.") for name in only}
    sources = {name: [copies[name].captures(v) for v in vendors_of(payloads)] for name in only}
    _topics(bootstrap, [topic for name in only for topic in (*sources[name], f"{t}.out.{name}")])
    asyncio.run(_fill(bootstrap, list(copies.values()), payloads))
    spans = {}
    for name, hop in (("aiokafka_fast", _aiokafka_fast), ("aiokafka_loop", _aiokafka_loop)):
        if name not in only:
            continue
        with cores.under_test():
            asyncio.run(hop(bootstrap, sources[name], f"{t}.out.{name}", events))
        spans[name] = asyncio.run(_count_until(bootstrap, f"{t}.out.{name}", events, 600))
    for name in FORWARDERS:
        if name not in only:
            continue
        forward = _forwarder(bootstrap, work, t, sources[name], f"{t}.out.{name}", name, cores)
        try:
            spans[name] = asyncio.run(_count_until(bootstrap, f"{t}.out.{name}", events, 900))
        finally:
            forward.terminate()
            forward.wait(30)
    return {name: spans[name] for name in only}


def _rate(n: int, span: tuple[float, float]) -> float:
    return n / max(1e-6, span[1] - span[0])


def run(events: int, bootstrap: str, work: Path) -> dict[str, Any]:
    world = build_world(seed=77)
    payloads = payloads_of(Traffic(world, seed=78).take(events))
    spans = baseline_spans(bootstrap, work, payloads)
    gateway = measure_facegate(bootstrap, work, world, payloads)
    rates = {name: _rate(events, span) for name, span in spans.items()} | {"facegate": gateway["events_per_second"]}
    c = rates["facegate"]
    return {
        "events": events, "partitions": PARTITIONS, "record_bytes": sum(len(v) for _, v, _ in payloads) // events,
        "vendors": {v: sum(1 for *_, vendor in payloads if vendor == v) for v in vendors_of(payloads)},
        "events_per_second": rates,
        "ratios": {f"facegate_over_{name}": c / rates[name] for name in BASELINES},
        "settings": BASELINE_SETTINGS | {"facegate": gateway["settings"]},
        "records_written_per_input": {name: 1 for name in BASELINES} | {"facegate": 2},
        "facegate_worker_rss_bytes": gateway["rss_bytes"], "facegate_cpu_seconds_per_1000": gateway["cpu_seconds_per_1000"],
        "enrolled_per_tenant": len(world.enrollments) // 2,
    }  # fmt: skip


def measure_facegate(
    bootstrap: str,
    work: Path,
    world: World,
    payloads: list[Payload],
    env: dict[str, str] | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """(c) FaceGate on its own topics: the world first, then the captures; decisions per second
    (audit records' timestamps), the worker's CPU seconds per 1,000 decisions and its RSS. `env`
    overrides the worker's settings; `profile` samples the worker with py-spy while it decides."""
    events = len(payloads)
    tag = run_tag()
    variables = {
        "FACEGATE_BOOTSTRAP_SERVERS": bootstrap, "FACEGATE_TOPIC_PREFIX": f"bench.{tag}.c.",
        "FACEGATE_APP_ID": f"bench-{tag}-facegate", "FACEGATE_PARTITIONS": str(PARTITIONS),
        "FACEGATE_TENANTS": json.dumps(list(world.tenants)), "FACEGATE_VENDORS": json.dumps(list(world.vendors)),
        "FACEGATE_CACHE_DIR": str(work / "cache"), "FACEGATE_KEYRING": Keyring.generate(list(world.tenants)).export(),
        "FACEGATE_WORKER_LOGLEVEL": "warn", **(env or {}),
    }  # fmt: skip
    given = {k.removeprefix("FACEGATE_").lower(): v for k, v in variables.items() if k.startswith("FACEGATE_") and k not in ("FACEGATE_KEYRING", "FACEGATE_WORKER_LOGLEVEL")}  # fmt: skip
    settings = Settings.model_validate(given | {"tenants": list(world.tenants), "vendors": list(world.vendors)})
    ensure_gateway_topics(settings, list(world.tenants))
    names = TopicNames(settings.topic_prefix)
    worker = LocalWorker(work / f"worker-{tag}.log", variables)
    worker.start()
    sampler = None
    try:
        pid = worker.process.pid or 0
        cpu_before: list[float] = []

        async def world_then_captures() -> None:
            async with FaceGateProducer(settings) as producer:
                await publish_world(producer, world)
            await asyncio.to_thread(worker.wait_for_enrolled, len(world.enrollments) // len(world.tenants))
            cpu_before.append(cpu_seconds(pid))
            await _fill(bootstrap, [names], payloads)

        if profile is not None:
            sampler = subprocess.Popen(
                ["py-spy", "record", "-r", "100", "-f", "raw", "-o", str(profile), "--pid", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        asyncio.run(world_then_captures())
        # The captures' audit records: not the world's (published before the captures) nor checkpoints.
        span = asyncio.run(_count_until(bootstrap, names.audit, events, 900, _decides_a_capture))
        cpu = cpu_seconds(pid) - cpu_before[0]
        rss = rss_bytes(pid)
    finally:
        if sampler is not None:
            sampler.send_signal(2)  # py-spy writes its file on SIGINT
            sampler.wait(60)
        worker.stop()
    return {
        "events_per_second": _rate(events, span), "cpu_seconds_per_1000": 1000 * cpu / events, "rss_bytes": rss,
        "settings": facegate_settings(settings),
    }  # fmt: skip


def facegate_settings(settings: Settings) -> str:
    return (
        f"batch {settings.batch_size} / {settings.batch_wait_ms} ms, producer batch {settings.producer_max_batch_bytes >> 10} KiB, "
        f"linger {settings.producer_linger_ms} ms, fetch {settings.consumer_max_fetch_bytes >> 20} MiB "
        f"(at least {settings.consumer_fetch_min_bytes:,} bytes or {settings.consumer_fetch_max_wait_ms} ms), "
        f"stream buffer {settings.stream_buffer_maxsize:,}, acks=all"
    )


LABELS = {
    "aiokafka_fast": "(a') aiokafka hop, batched",
    "faust_tuned": "(b') Faust agent, batched, tuned",
    "faust_shell": "(b'') (b') on FaceGate's Faust consumer",
    "aiokafka_loop": "(a) aiokafka loop, await per record",
    "faust_forward": "(b) Faust agent, per event, defaults",
    "facegate": "(c) FaceGate worker, full decision",
}


def markdown(result: dict[str, Any]) -> str:
    r, settings, writes = result["events_per_second"], result["settings"], result["records_written_per_input"]
    lines = [
        f"# Pipeline throughput ({result['events']} captures of ~{result['record_bytes']} bytes, {result['partitions']} partitions, one process each, one run)",
        "", "Every pipeline reads its own copy of the vendors' capture topics (" + vendor_split(result["vendors"]) + ").", "", "| pipeline | events/s | c / this | records written per input | settings |", "|---|---:|---:|---:|---|",
    ]  # fmt: skip
    for name in (*BASELINES, "facegate"):
        ratio = f"{r['facegate'] / r[name]:.2f}" if name != "facegate" else ""
        lines.append(f"| {LABELS[name]} | {r[name]:,.0f} | {ratio} | {writes[name]} | {settings[name]} |")
    lines += [
        "", f"c/b' = {r['facegate'] / r['faust_tuned']:.2f}, c/b'' = {r['facegate'] / r['faust_shell']:.2f}, c/a' = {r['facegate'] / r['aiokafka_fast']:.3f}; "
        f"worker RSS {result['facegate_worker_rss_bytes'] / 2**20:.0f} MiB, {result['facegate_cpu_seconds_per_1000']:.2f} CPU-s per 1,000 decisions; "
        f"{result['enrolled_per_tenant']} enrolled per tenant. FaceGate writes a governed (or dead-letter) and an audit record per input.", "",
    ]  # fmt: skip
    return "\n".join(lines)


def vendor_split(vendors: dict[str, int]) -> str:
    return ", ".join(f"faces.raw.{v}: {n:,} captures" for v, n in vendors.items()) + f", {PARTITIONS} partitions each"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with scratch() as work:
        result = on_broker(args.bootstrap, work, lambda bootstrap: run(args.events, bootstrap, work))
        write_results("pipeline", result, markdown(result))


if __name__ == "__main__":
    main()
