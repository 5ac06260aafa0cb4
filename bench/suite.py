"""The benchmark suite: FaceGate against its baselines in one run, on one Apache Kafka.

    python -m bench.suite [--events 20000] [--enrolled 1000,100000,1000000] [--bootstrap host:port] [--pinned]

In one run, on the same pre-produced records (the scenario's realistic decision mix, ~2.1 KB,
each on its camera vendor's capture topic `faces.raw.<vendor>`, which every pipeline reads):
the baselines (a) and (a'), aiokafka consume -> produce loops, (b) and (b'), Faust agents that
forward unchanged, and (b''), (b') on the worker's own Faust consumer (bench/pipeline.py,
bench/forward_app.py), then (c) the FaceGate worker with 1k, 100k and 1M enrolled subjects per
tenant: events/s, the ratios of c to each baseline (the goals' against the faster of (b') and
(b'')), p50/p99 end-to-end latency at half of (c)'s maximum rate, the worker's RSS, and
where its batches' time went (its `facegate_batch_phase_seconds`) and its CPU per decision in the
backlog and at each rate; and, paced at the first level's rates, pipelines that decide nothing,
each in its own process: (b'), (b'') and an aiokafka hop writing each record once or twice
(bench/hop_app.py): the latency and CPU per event the host, the broker and each path give at
those rates.
Then two workers in one consumer group at each level: their throughput, each worker's CPU per
decision, and that no input is left undecided.
With `--pinned`, each pipeline under test (every baseline, each level's worker) runs on a core of
its own and the broker, the load generator and the measuring consumers on the others (bench/cores.py),
without the two-worker runs: the same figures where a worker is given a whole core, as
docs/operations.md advises, in suite_pinned.*.

The enrolled galleries beyond the scenario's own subjects are pre-written to the gateway's
internal `enrolled` topic as random protected codes (what keyed IoM codes of unrelated people
look like): protecting a million synthetic faces through the enrollment agent would measure the
enrollment path, not the capture path. Writes bench/results/suite.json, suite.md and suite.png.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaProducer, ConsumerRecord

from bench.broker import on_broker
from bench.cores import SHARED, Cores
from bench.hop_app import SETTINGS as HOP_SETTINGS
from bench.hop_app import second_topic
from bench.pipeline import (
    BASELINE_SETTINGS,
    FORWARDERS,
    PARTITIONS,
    TUNED_FORWARDERS,
    Payload,
    _fill,
    _forwarder,
    _rate,
    _topics,
    baseline_spans,
    facegate_settings,
    follow,
    payloads_of,
    run_tag,
    vendor_split,
    vendors_of,
)
from bench.results import RESULTS, cpu_seconds, rss_bytes, write_results
from bench.scratch import scratch
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord, EnrolledTemplate
from gateway.contract.topics import TopicNames
from gateway.core.biometrics.synthetic import SYNTHETIC_512
from gateway.core.records import decided_a_capture
from gateway.core.state import consent_key
from gateway.files.calibrations import shipped
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import VENDORS, Traffic, World, build_world
from gateway.sdk.simulator import publish_world
from gateway.settings import Settings
from gateway.shell.local import LocalWorker

TENANTS = ("acme", "beta")
LATENCY_SECONDS = 10.0
LATENCY_SHARES = (0.1, 0.25, 0.5)  # of the maximum rate
PHASES = ("queued", "wait", "decide", "effects", "audit")  # the worker's facegate_batch_phase_seconds


@dataclass
class Captures:
    world: World
    payloads: list[Payload]  # (key, value, vendor) as vendors send them
    event_ids: set[str]


def captures(events: int, seed: int = 78) -> Captures:
    world = build_world(seed=77, tenants=TENANTS)
    items = Traffic(world, seed=seed).take(events)
    return Captures(world, payloads_of(items, f"m{seed}-"), {i.capture.event_id for i in items if i.capture})


async def _prefill_enrolled(bootstrap: str, topic: str, per_tenant: int, keyring: Keyring) -> None:
    """Random protected codes under each tenant's current key: the rest of a large gallery."""
    scheme = shipped()[SYNTHETIC_512.name].scheme
    codec = default_codec()
    rng = np.random.default_rng(5)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=50, max_batch_size=1 << 20, compression_type=None
    )
    await producer.start()
    try:
        enrolled_at = datetime(2026, 1, 1, tzinfo=UTC)
        for tenant in TENANTS:
            version = keyring.protection_key(tenant)[0]
            for start in range(0, per_tenant, 50_000):
                codes = rng.integers(0, 256, (min(50_000, per_tenant - start), scheme.code_bytes), dtype=np.uint8)
                for i, code in enumerate(codes):
                    subject = f"gallery-{start + i:07d}"
                    record = EnrolledTemplate(
                        tenant_id=tenant, subject_id=subject, template_model=SYNTHETIC_512.name, key_version=version,
                        code=code.tobytes(), enrolled_at=enrolled_at,
                    )  # fmt: skip
                    await producer.send(topic, codec.encode(record), key=consent_key(tenant, subject).encode())
        await producer.flush()
    finally:
        await producer.stop()


def _start_workers(
    bootstrap: str, prefix: str, app_id: str, keyring: str, work: Path, count: int, cores: Cores
) -> list[LocalWorker]:
    workers = []
    for n in range(count):
        worker = LocalWorker(work / f"{app_id}-{n}.log", {
            "FACEGATE_BOOTSTRAP_SERVERS": bootstrap, "FACEGATE_TOPIC_PREFIX": prefix, "FACEGATE_APP_ID": app_id,
            "FACEGATE_PARTITIONS": str(PARTITIONS), "FACEGATE_TENANTS": json.dumps(list(TENANTS)),
            "FACEGATE_VENDORS": json.dumps(list(VENDORS)), "FACEGATE_CACHE_DIR": str(work / f"cache-{app_id}-{n}"), "FACEGATE_KEYRING": keyring,
            "FACEGATE_WORKER_LOGLEVEL": "warn",
        })  # fmt: skip
        with cores.under_test():  # started from here, the worker and its threads stay on its cores
            worker.start(timeout=600)
        workers.append(worker)
    return workers


async def _stamps(
    bootstrap: str,
    topic: str,
    wanted: set[str],
    timeout: float,
    id_of: Callable[[ConsumerRecord[bytes, bytes]], str | None],
) -> dict[str, int]:
    """The first timestamp (ms) of each record on `topic` by its id (`id_of`), once every wanted id has one."""
    found: dict[str, int] = {}
    missing = set(wanted)

    def take(r: ConsumerRecord[bytes, bytes]) -> bool:
        if (key := id_of(r)) is not None:
            found.setdefault(key, r.timestamp)
            missing.discard(key)
        return not missing

    if missing:
        await follow(bootstrap, topic, timeout, take)
    return found


async def _decided(
    bootstrap: str, topic: str, wanted: set[str], timeout: float, every_capture: bool = False
) -> dict[str, int]:
    """Audit timestamps (ms) by event id, once every wanted event id has its decision; with
    `every_capture`, every capture's decision read by then too (a malformed one's event id names
    its place in the log), not the world's consents and enrollments. Each record's event id is
    read without the rest (`Codec.leading_strings`, ~1.7 µs against ~33 for a whole record): on
    shared cores this reader competes with the worker, and the baselines' reads a key."""
    codec = default_codec()

    def event_id(r: ConsumerRecord[bytes, bytes]) -> str | None:
        value = r.value or b""
        if codec.record_name(value) != AuditRecord.avro_name:  # a checkpoint or a completeness note
            return None
        found = codec.leading_strings(value, ("audit_id", "event_id"))[1]
        return found if found in wanted or (every_capture and decided_a_capture(found)) else None

    return await _stamps(bootstrap, topic, wanted, timeout, event_id)


def _latency(sent: dict[str, int], arrived: dict[str, int], ids: set[str], rate: float) -> dict[str, float]:
    """p50 and p99 (ms) from each id's send to its arrival."""
    latency = np.array([arrived[e] - sent[e] for e in ids], dtype=np.float64)
    return {
        "rate": rate, "p50": float(np.percentile(latency, 50)), "p99": float(np.percentile(latency, 99)),
        "samples": len(latency),
    }  # fmt: skip


PACED_BASELINES = {  # what paces beside FaceGate: the name in results, and how it is described
    "faust_tuned": "(b') forwarding",
    "faust_shell": "(b'') forwarding, FaceGate's consumer",
    "aiokafka_hop": "aiokafka hop, one write",
    "aiokafka_hop_two_writes": "aiokafka hop, two writes",
}


def _paced_pipeline(
    kind: str, bootstrap: str, work: Path, tag: str, sources: list[str], sink: str, cores: Cores
) -> subprocess.Popen[bytes]:
    if kind in FORWARDERS:
        return _forwarder(bootstrap, work, tag, sources, sink, kind, cores)
    writes = "two" if kind == "aiokafka_hop_two_writes" else "one"
    with cores.under_test():
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("hop_app.py")), bootstrap, f"{tag}-hop", ",".join(sources), sink, writes],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip


def paced_baselines(
    bootstrap: str, work: Path, rates: dict[str, float], cores: Cores = SHARED
) -> dict[str, dict[str, dict[str, float]]]:
    """The paced loads (c) got, through pipelines that decide nothing, each in its own process:
    (b') the tuned Faust forwarder, (b'') it on the worker's consumer, and an aiokafka hop writing
    each record once or twice (hop_app.py). Latency from a capture's send to its last copy's
    timestamp (the second write's for the two-write hop), as (c)'s is to its audit record's, its
    second write; CPU per event from the process's own accounting over the window."""
    out: dict[str, dict[str, dict[str, float]]] = {}

    def key(r: ConsumerRecord[bytes, bytes]) -> str | None:
        return r.key.decode() if r.key is not None else None

    for kind in PACED_BASELINES:
        tag = f"bench.{run_tag()}"
        names, sink = TopicNames(f"{tag}.in.paced."), f"{tag}.out.paced"
        sources = [names.captures(v) for v in VENDORS]
        _topics(bootstrap, [*sources, sink, second_topic(sink)])
        pipeline = _paced_pipeline(kind, bootstrap, work, f"{tag}-paced", sources, sink, cores)
        last = second_topic(sink) if kind == "aiokafka_hop_two_writes" else sink  # where a record's path ends
        try:
            warm = captures(50, seed=97)  # forwarded once the pipeline has joined its group
            asyncio.run(_paced(bootstrap, names, warm.payloads, 100.0))
            asyncio.run(_stamps(bootstrap, last, warm.event_ids, 120, key))
            out[kind] = {}
            for share, rate in rates.items():
                paced = captures(max(200, int(rate * LATENCY_SECONDS)), seed=int(79 + float(share) * 100))
                cpu = cpu_seconds(pipeline.pid)
                sent = asyncio.run(_paced(bootstrap, names, paced.payloads, rate))
                ids = set(sent)  # every record is forwarded, the undecodable ones too
                arrived = asyncio.run(_stamps(bootstrap, last, ids, 600, key))
                spent = cpu_seconds(pipeline.pid) - cpu
                out[kind][share] = _latency(sent, arrived, ids, rate) | {"cpu_ms_per_event": 1000 * spent / len(ids)}
        finally:
            pipeline.terminate()
            pipeline.wait(30)
    return out


async def _paced(bootstrap: str, names: TopicNames, payloads: list[Payload], rate: float) -> dict[str, int]:
    """Send at `rate` per second, in 5 ms ticks, each to its vendor's capture topic; returns each
    event's send time (ms) by event id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    sent: dict[str, int] = {}
    try:
        start, n = time.perf_counter(), 0
        while n < len(payloads):
            due = min(len(payloads), int((time.perf_counter() - start) * rate) + 1)
            now_ms = int(time.time() * 1000)
            for key, value, vendor in payloads[n:due]:
                sent[key.decode()] = now_ms
                await producer.send(names.captures(vendor), value, key=key, timestamp_ms=now_ms)
            n = due
            await asyncio.sleep(0.005)  # the load generator's tick
        await producer.flush()
    finally:
        await producer.stop()
    return sent


@dataclass
class Group:
    """Workers in one consumer group, ready, with their tenants' world published and gallery loaded."""

    pool: list[LocalWorker]
    names: TopicNames
    load: Captures


@contextmanager
def running_gateway(
    bootstrap: str, work: Path, enrolled: int, events: int, workers: int = 1, cores: Cores = SHARED
) -> Iterator[Group]:
    """Topics of their own, `enrolled` subjects per tenant (the scenario's, the rest pre-written
    random codes), `workers` workers started; `events` captures prepared (not sent)."""
    tag = run_tag()
    prefix = f"bench.{tag}.s{enrolled}w{workers}."
    settings = Settings(
        bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=PARTITIONS, tenants=list(TENANTS),
        vendors=list(VENDORS),
    )  # fmt: skip
    ensure_gateway_topics(settings, list(TENANTS))
    names = TopicNames(prefix)
    keyring = Keyring.generate(list(TENANTS))
    load = captures(events)
    world_subjects = len(load.world.enrollments) // len(TENANTS)
    asyncio.run(_prefill_enrolled(bootstrap, names.enrolled, max(0, enrolled - world_subjects), keyring))
    pool = _start_workers(
        bootstrap, prefix, f"bench-{tag}-{enrolled}-{workers}", keyring.export(), work, workers, cores
    )
    try:

        async def publish() -> None:
            async with FaceGateProducer(settings) as producer:
                await publish_world(producer, load.world)

        asyncio.run(publish())
        pool[0].wait_for_enrolled(max(enrolled, world_subjects), 900)
        yield Group(pool, names, load)
    finally:
        for w in pool:
            w.stop()


def drained(bootstrap: str, group: Group) -> tuple[float, dict[str, int]]:
    """The group's captures written as a backlog, then decided: decisions per second from the
    backlog's last write (or the first decision, if later) to the last decision, and each
    capture's audit time (ms) by event id. The workers run while the backlog is written (they
    load their gallery first); the writer's share of the cores is left out of the window, as the
    baselines read a backlog written before they start. Every input counts, the malformed too
    (their audit records name them by their place in the log)."""
    asyncio.run(_fill(bootstrap, [group.names], group.load.payloads))
    written = time.time() * 1000
    every = asyncio.run(_decided(bootstrap, group.names.audit, group.load.event_ids, 1800, every_capture=True))
    return backlog_rate(every.values(), written), {e: every[e] for e in group.load.event_ids}


def backlog_rate(stamps: Iterable[int], written_ms: float) -> float:
    """Decisions per second over the window from `written_ms` (or the first decision, if later)
    to the last decision, counting the decisions stamped within it."""
    times = sorted(stamps)
    start = max(written_ms, times[0])
    inside = sum(1 for t in times if t >= start)
    if inside < len(times) / 2:  # a backlog decided mostly while written (a small run): all of it
        start, inside = times[0], len(times)
    return inside / max(1e-3, (times[-1] - start) / 1000)


def _batch_totals(worker: LocalWorker) -> dict[str, float]:
    """The worker's running totals of decided batches, their captures and their seconds per phase."""
    totals = {
        "batches": worker.metric("facegate_batch_captures_count"),
        "captures": worker.metric("facegate_batch_captures_sum"),
    }
    return totals | {phase: worker.metric("facegate_batch_phase_seconds_sum", phase=phase) for phase in PHASES}


def batch_profile(worker: LocalWorker, before: dict[str, float], captures: int) -> dict[str, float]:
    """Mean captures and milliseconds per phase of the batches decided since `before`, once they
    hold `captures` more (a batch is counted just after its audit records are acknowledged)."""
    worker.wait_until(
        lambda: worker.metric("facegate_batch_captures_sum") - before["captures"] >= captures,
        60,
        f"{captures} more captures in decided batches",
    )
    after = _batch_totals(worker)
    batches = max(1.0, after["batches"] - before["batches"])
    per_phase = {f"{phase}_ms": 1000 * (after[phase] - before[phase]) / batches for phase in PHASES}
    return {"batches": after["batches"] - before["batches"], "captures_per_batch": (after["captures"] - before["captures"]) / batches} | per_phase  # fmt: skip


def measure_gateway(
    bootstrap: str, work: Path, enrolled: int, events: int, workers: int = 1, cores: Cores = SHARED
) -> dict[str, Any]:
    with running_gateway(bootstrap, work, enrolled, events, workers, cores) as group:
        pool, names, load = group.pool, group.names, group.load
        # Each worker's own accounting, from here to the last decision.
        cpu_before = [cpu_seconds(w.process.pid or 0) for w in pool]
        decisions_before = [w.metric("facegate_decisions_total") for w in pool]
        batches_before = _batch_totals(pool[0])
        rate, decided = drained(bootstrap, group)
        cpu = [cpu_seconds(w.process.pid or 0) - before for w, before in zip(pool, cpu_before, strict=True)]
        made = [w.metric("facegate_decisions_total") - before for w, before in zip(pool, decisions_before, strict=True)]
        result: dict[str, Any] = {
            "enrolled_per_tenant": enrolled, "workers": workers, "events": events, "events_per_second": rate,
            "undecided": len(load.event_ids - decided.keys()), "worker_rss_bytes": [rss_bytes(w.process.pid or 0) for w in pool],
            "worker_decisions": made, "worker_cpu_seconds": cpu,
            "cpu_seconds_per_1000": [1000 * c / max(1.0, d) for c, d in zip(cpu, made, strict=True)],
        }  # fmt: skip
        if workers == 1:  # end-to-end latency at fractions of the maximum rate; the goal is at one half
            # Where a batch's time went, by the worker's own histograms: the backlog's, then each rate's.
            result["batches"] = {"backlog": batch_profile(pool[0], batches_before, len(load.payloads))}
            result["latency_ms"] = {}
            for share in LATENCY_SHARES:
                paced = captures(max(200, int(rate * share * LATENCY_SECONDS)), seed=int(79 + share * 100))
                before = _batch_totals(pool[0])
                # The worker's CPU over the window as the baselines', its /metrics scrapes outside it.
                made_at = pool[0].metric("facegate_decisions_total")
                cpu_at = cpu_seconds(pool[0].process.pid or 0)
                sent = asyncio.run(_paced(bootstrap, names, paced.payloads, rate * share))
                arrived = asyncio.run(_decided(bootstrap, names.audit, paced.event_ids, 600))
                spent = cpu_seconds(pool[0].process.pid or 0) - cpu_at
                result["batches"][str(share)] = batch_profile(pool[0], before, len(paced.payloads))  # all counted
                per_decision = 1000 * spent / max(1.0, pool[0].metric("facegate_decisions_total") - made_at)
                result["latency_ms"][str(share)] = _latency(sent, arrived, paced.event_ids, rate * share) | {
                    "cpu_ms_per_event": per_decision
                }
            result["latency_ms_at_half_rate"] = result["latency_ms"]["0.5"]
        return result


def baselines(bootstrap: str, work: Path, payloads: list[Payload], cores: Cores = SHARED) -> dict[str, float]:
    spans = baseline_spans(bootstrap, work, payloads, cores=cores)
    return {name: _rate(len(payloads), span) for name, span in spans.items()}


GOALS = {  # enrolled per tenant: (least c over the faster of (b') and (b''), most p99 ms at half the maximum rate); issue 17
    1_000: (0.6, 50.0), 100_000: (0.4, 50.0), 1_000_000: (0.2, 250.0),
}  # fmt: skip


def verdicts(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Met or not met, for each level that has a goal."""
    out = []
    for g in levels:
        if g["enrolled_per_tenant"] not in GOALS:
            continue
        ratio, p99 = GOALS[g["enrolled_per_tenant"]]
        measured_p99 = g["latency_ms_at_half_rate"]["p99"]
        out.append({
            "enrolled_per_tenant": g["enrolled_per_tenant"], "over_faust_tuned": g["over_faust_tuned"],
            "over_faust_shell": g["over_faust_shell"], "over_faust_best": g["over_faust_best"], "goal_ratio": ratio,
            "ratio_met": g["over_faust_best"] >= ratio, "p99_ms": measured_p99, "goal_p99_ms": p99, "p99_met": measured_p99 <= p99,
        })  # fmt: skip
    return out


def run(
    events: int,
    enrolled: list[int],
    bootstrap: str,
    work: Path,
    two_workers: bool = True,
    split_levels: list[int] | None = None,
    cores: Cores = SHARED,
) -> dict[str, Any]:
    load = captures(events).payloads  # the records each level decides too
    base = baselines(bootstrap, work, load, cores)
    levels = [measure_gateway(bootstrap, work, n, events, cores=cores) for n in enrolled]
    for level in levels:
        level["over_aiokafka"] = level["events_per_second"] / base["aiokafka_loop"]
        level["over_faust"] = level["events_per_second"] / base["faust_forward"]
        level["over_aiokafka_fast"] = level["events_per_second"] / base["aiokafka_fast"]
        level["over_faust_tuned"] = level["events_per_second"] / base["faust_tuned"]
        level["over_faust_shell"] = level["events_per_second"] / base["faust_shell"]
        # The goal's (b') is the fastest Faust forwarder this run had: a baseline at its best.
        level["over_faust_best"] = level["events_per_second"] / max(base[name] for name in TUNED_FORWARDERS)
    # What pipelines that decide nothing get at the paced rates the first level got, on the same
    # host and broker: Kafka's path and the load generator, with Faust's or aiokafka's per-event cost.
    first = {str(share): levels[0]["latency_ms"][str(share)]["rate"] for share in LATENCY_SHARES}
    paced = paced_baselines(bootstrap, work, first, cores)
    splits = split_levels if split_levels is not None else enrolled  # issue 17 item 5: at each gallery size
    # Two workers on one core would measure the core: a pinned run has none.
    pair = two_workers and not cores.is_pinned
    split = [measure_gateway(bootstrap, work, n, events, workers=2) for n in splits] if pair else []
    vendors = {v: sum(1 for *_, vendor in load if vendor == v) for v in vendors_of(load)}
    return {"events": events, "partitions": PARTITIONS, "vendors": vendors, "baselines": base, "baseline_settings": BASELINE_SETTINGS,
            "gateway": levels, "two_workers": split, "goals": verdicts(levels), "paced_baselines": paced,
            "paced_baseline_settings": {
                "faust_tuned": BASELINE_SETTINGS["faust_tuned"], "faust_shell": BASELINE_SETTINGS["faust_shell"], "aiokafka_hop": HOP_SETTINGS,
            },
            "facegate_settings": worker_settings(), "cores": cores.describe(), "pinned": cores.is_pinned}  # fmt: skip


def worker_settings() -> str:
    """The settings each level's worker runs with (the defaults, as the environment leaves them)."""
    threads = os.environ.get("OMP_NUM_THREADS", "every core it may run on")
    return f"{facegate_settings(Settings())}; its search's threads: {threads}"


def busy(level: dict[str, Any]) -> float:
    """Cores the worker kept busy draining the backlog: a search over a large gallery may use more
    than one (docs/operations.md, OMP_NUM_THREADS). Its CPU per decision is counted over the whole
    backlog, its rate after the backlog's last write."""
    return float(level["events_per_second"] * level["cpu_seconds_per_1000"][0] / 1000)


def markdown(result: dict[str, Any]) -> str:
    b, how = result["baselines"], result["baseline_settings"]
    lines = [
        f"# Benchmark suite ({result['events']} captures per run, {result['partitions']} partitions, one Apache Kafka, one process each, one run)",
        "", "Every pipeline reads its own copy of the vendors' capture topics (" + vendor_split(result["vendors"]) + "). "
        f"Cores: {result.get('cores', 'every process on every core')}.", "", "Baselines on the same records (each writes one record per input; FaceGate writes a governed or dead-letter and an audit record):", "",
        f"- (a') aiokafka hop, batched: {b['aiokafka_fast']:,.0f} events/s ({how['aiokafka_fast']})",
        f"- (b') Faust agent, batched, tuned: {b['faust_tuned']:,.0f} events/s ({how['faust_tuned']})",
        f"- (b'') the same on FaceGate's Faust consumer: {b['faust_shell']:,.0f} events/s ({how['faust_shell']})",
        f"- (a) aiokafka loop, await per record: {b['aiokafka_loop']:,.0f} events/s; (b) Faust per event, defaults: {b['faust_forward']:,.0f} events/s",
        "", f"(c) FaceGate's worker: {result.get('facegate_settings', 'its defaults')}. Its rate counts every input (the malformed "
        "too) from the backlog's last write to the last decision.",
        "", "| enrolled per tenant | (c) events/s | c/a' | c/b' | c/b'' | c/b | p50 ms | p99 ms (at half rate) | CPU-s per 1,000 decisions | cores busy | worker RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for g in result["gateway"]:
        lat = g.get("latency_ms_at_half_rate", {})
        lines.append(
            f"| {g['enrolled_per_tenant']:,} | {g['events_per_second']:,.0f} | {g['over_aiokafka_fast']:.3f} | {g['over_faust_tuned']:.2f} | "
            f"{g['over_faust_shell']:.2f} | {g['over_faust']:.2f} | {lat.get('p50', float('nan')):.0f} | {lat.get('p99', float('nan')):.0f} | "
            f"{g['cpu_seconds_per_1000'][0]:.2f} | {busy(g):.2f} | {g['worker_rss_bytes'][0] / 2**20:.0f} |"
        )
    lines += ["", "Latency (p50 / p99 ms) at shares of each level's maximum rate:", "",
              "| enrolled per tenant | " + " | ".join(f"{s:.0%} of max" for s in LATENCY_SHARES) + " |",
              "|---:|" + "---:|" * len(LATENCY_SHARES)]  # fmt: skip
    for g in result["gateway"]:
        cells = [f"{g['latency_ms'][str(s)]['p50']:.0f} / {g['latency_ms'][str(s)]['p99']:.0f}" for s in LATENCY_SHARES]
        lines.append(f"| {g['enrolled_per_tenant']:,} | " + " | ".join(cells) + " |")
    paced, first = result.get("paced_baselines", {}), result["gateway"][0]["enrolled_per_tenant"]
    for kind, name in PACED_BASELINES.items():
        if kind in paced:
            cells = [f"{paced[kind][str(s)]['p50']:.0f} / {paced[kind][str(s)]['p99']:.0f}" for s in LATENCY_SHARES]
            lines.append(f"| {name}, at the {first:,} level's rates | " + " | ".join(cells) + " |")
    if paced:
        settings = result["paced_baseline_settings"]
        lines += ["", "CPU-ms per event at those rates (each process's own accounting over its paced window; FaceGate's per "
                  "decision), and the share of one core that is at that rate. The baselines decide nothing: (b') the tuned "
                  f"Faust forwarder, (b'') it on FaceGate's consumer; the aiokafka hop ({settings['aiokafka_hop']}) writes each record once, or twice (the "
                  "second write once Kafka acknowledged the first, as FaceGate writes its audit records after its governed "
                  "events):", "",
                  "| pipeline | " + " | ".join(f"{s:.0%} of max" for s in LATENCY_SHARES) + " |",
                  "|---|" + "---:|" * len(LATENCY_SHARES)]  # fmt: skip

        def cpu_cells(windows: dict[str, dict[str, float]]) -> str:
            return " | ".join(
                f"{w['cpu_ms_per_event']:.2f} ({w['cpu_ms_per_event'] * w['rate'] / 1000:.0%} at {w['rate']:,.0f}/s)"
                for w in (windows[str(s)] for s in LATENCY_SHARES)
            )

        for g in result["gateway"]:
            lines.append(
                f"| FaceGate, {g['enrolled_per_tenant']:,} enrolled per tenant | {cpu_cells(g['latency_ms'])} |"
            )
        for kind, name in PACED_BASELINES.items():
            lines.append(f"| {name}, at the {first:,} level's rates | {cpu_cells(paced[kind])} |")
    lines += ["", "Where a batch's time went, one worker (its `facegate_batch_phase_seconds`; mean per batch, ms: queued is "
              "its oldest capture waiting for the batch before it, effects and audit each until Kafka acknowledged them):", "",
              "| enrolled per tenant | load | captures per batch | " + " | ".join(PHASES) + " |",
              "|---:|---|---:|" + "---:|" * len(PHASES)]  # fmt: skip
    for g in result["gateway"]:
        for share, profile in g.get("batches", {}).items():
            name = "backlog" if share == "backlog" else f"{float(share):.0%} of max"
            spent = " | ".join(f"{profile[f'{phase}_ms']:.1f}" for phase in PHASES)
            lines.append(f"| {g['enrolled_per_tenant']:,} | {name} | {profile['captures_per_batch']:.0f} | {spent} |")
    if result["two_workers"]:
        lines += ["", "Two workers in one group (the same captures; each worker's own CPU accounting):", "",
                  "| enrolled per tenant | events/s (x one worker) | decisions per worker | CPU-s per 1,000 decisions per worker (one worker alone) | RSS MiB per worker | undecided |",
                  "|---:|---:|---|---|---|---:|"]  # fmt: skip
    for s in result["two_workers"]:
        one = next(g for g in result["gateway"] if g["enrolled_per_tenant"] == s["enrolled_per_tenant"])
        lines.append(
            f"| {s['enrolled_per_tenant']:,} | {s['events_per_second']:,.0f} ({s['events_per_second'] / one['events_per_second']:.2f}x) | "
            + " / ".join(f"{d:,.0f}" for d in s["worker_decisions"]) + " | "
            + " / ".join(f"{c:.2f}" for c in s["cpu_seconds_per_1000"]) + f" ({one['cpu_seconds_per_1000'][0]:.2f}) | "
            + " / ".join(f"{r / 2**20:.0f}" for r in s["worker_rss_bytes"]) + f" | {s['undecided']} |"
        )  # fmt: skip
    lines += [
        "",
        "Goals (issue 17), c/(faster Faust) being c over the faster of (b') and (b''): >= 0.6 at 1k, >= 0.4 at 100k, >= 0.2 at 1M; "
        "p99 <= 50 ms at half the maximum rate at 1k and 100k, <= 250 ms at 1M.",
        "",
    ]
    for v in result["goals"]:
        lines.append(
            f"- {v['enrolled_per_tenant']:,}: c/(faster Faust) {v['over_faust_best']:.2f} vs {v['goal_ratio']} ({'met' if v['ratio_met'] else 'NOT met'}; "
            f"c/b' {v['over_faust_tuned']:.2f}, c/b'' {v['over_faust_shell']:.2f}); "
            f"p99 {v['p99_ms']:.0f} ms vs {v['goal_p99_ms']:.0f} ({'met' if v['p99_met'] else 'NOT met'}); "
            f"cores busy {busy(next(g for g in result['gateway'] if g['enrolled_per_tenant'] == v['enrolled_per_tenant'])):.2f}, "
            "the forwarders one"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = result["gateway"]
    labels = [f"{g['enrolled_per_tenant']:,}" for g in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.bar(labels, [g["events_per_second"] for g in levels], color="#3b6ea8", label="(c) FaceGate")
    left.axhline(result["baselines"]["aiokafka_fast"], color="#999", linestyle="--", label="(a') aiokafka hop, batched")
    left.axhline(result["baselines"]["faust_tuned"], color="#c76", linestyle=":", label="(b') Faust, batched, tuned")
    left.axhline(
        result["baselines"]["faust_shell"], color="#a53", linestyle="-.", label="(b'') (b') on FaceGate's consumer"
    )
    left.set_xlabel("enrolled subjects per tenant")
    left.set_ylabel("events/s")
    left.set_yscale("log")
    left.legend(fontsize=8)
    left.set_title("Throughput, one worker")
    p50 = [g["latency_ms_at_half_rate"]["p50"] for g in levels]
    p99 = [g["latency_ms_at_half_rate"]["p99"] for g in levels]
    x = np.arange(len(levels))
    right.bar(x - 0.2, p50, 0.4, label="p50", color="#6a9f58")
    right.bar(x + 0.2, p99, 0.4, label="p99", color="#b5523b")
    right.plot(
        x,
        [GOALS.get(g["enrolled_per_tenant"], (0, float("nan")))[1] for g in levels],
        "k_",
        markersize=30,
        label="p99 goal",
    )
    right.set_xticks(x, labels)
    right.set_xlabel("enrolled subjects per tenant")
    right.set_ylabel("end-to-end ms at half the maximum rate")
    right.set_yscale("log")
    right.legend(fontsize=8)
    right.set_title("Latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--enrolled", default="1000,100000,1000000")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument(
        "--two-workers", default=None, help="levels measured with two workers too (default: every level)"
    )
    parser.add_argument(
        "--pinned", action="store_true",
        help="each pipeline under test on a core of its own, the broker and the load generator on the others; "
        "no two-worker runs; writes suite_pinned.*",
    )  # fmt: skip
    args = parser.parse_args()
    with scratch() as work:
        enrolled = [int(n) for n in args.enrolled.split(",")]
        splits = [int(n) for n in args.two_workers.split(",")] if args.two_workers else None
        cores = Cores.pinned() if args.pinned else SHARED
        cores.enter()  # before the broker starts: it runs where the load generator does
        result = on_broker(
            args.bootstrap,
            work,
            lambda bootstrap: run(args.events, enrolled, bootstrap, work, True, splits, cores),
        )
        name = "suite_pinned" if args.pinned else "suite"
        write_results(name, result, markdown(result))
        plot(result, RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
