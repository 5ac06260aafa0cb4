"""Benchmark: withdrawal-to-enforcement latency on real Kafka (goal p99 <= 1 s).

A worker runs with an enrolled world. For each of N subjects in turn: a probe sends captures of
that subject every PROBE_MS; the consent is withdrawn; the probe keeps going until the ERASED
audit record is seen. Reported per withdrawal:
  erasure   - withdrawal acknowledged -> ERASED audit record read back (the tenant notice is
              produced before it, the tombstone right after it: in_produce_order)
  enforced  - withdrawal acknowledged -> the send time of the first probe after which no probe
              was FORWARDED (resolution PROBE_MS; 0 when none was forwarded after the withdrawal)
Usage: python -m bench.withdrawal [--withdrawals 40] [--bootstrap host:port]
Writes bench/results/withdrawal.json and .md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer

from bench.broker import on_broker
from bench.pipeline import run_tag
from bench.results import write_results
from bench.scratch import scratch
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord, FaceCaptured
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision, Occlusion, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.records import erasure_event_id
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import assign_all, stop_quietly
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import GOOD_CAPTURE_NOISE, VENDORS, World, build_world
from gateway.sdk.simulator import publish_world
from gateway.settings import Settings
from gateway.shell.local import LocalWorker

PARTITIONS = 4
PROBE_MS = 20
TENANTS = ["acme", "beta"]


class AuditWatch:
    """Reads the audit topic from its end and notes when each event id's decision arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self.topic = topic
        self.seen: dict[str, tuple[float, Decision]] = {}
        self.codec = default_codec()

    async def start(self) -> None:
        await self.consumer.start()
        partitions = await assign_all(self.consumer, self.topic)
        await self.consumer.seek_to_end(*partitions)

    async def until(self, event_id: str, timeout: float = 30.0) -> float:
        async with asyncio.timeout(timeout):
            while event_id not in self.seen:
                for records in (await self.consumer.getmany(timeout_ms=50)).values():
                    for r in records:
                        decoded = self.codec.decode_any(r.value or b"")
                        if isinstance(decoded, AuditRecord):
                            self.seen[decoded.event_id] = (time.time(), decoded.decision)
        return self.seen[event_id][0]


def _probe(world: World, tenant: str, subject: str, n: int) -> FaceCaptured:
    face = world.population.captures([world.person_of[(tenant, subject)]], stream=90_000 + n, noise=GOOD_CAPTURE_NOISE)[
        0
    ]
    return FaceCaptured(
        event_id=f"probe-{subject}-{n}", camera_id=f"{tenant}-entrance", tenant_id=tenant,
        captured_at=datetime.now(UTC), purpose=Purpose.REPEAT_VISITOR_RECOGNITION, template=to_bytes(face),
        template_model="synthetic-512", quality=0.95, occlusion=Occlusion.NONE, age_estimate=30,
    )  # fmt: skip


async def _one(
    producer: FaceGateProducer, watch: AuditWatch, world: World, tenant: str, subject: str
) -> dict[str, float]:
    consent = next(c for c in world.consents if c.tenant_id == tenant and c.subject_id == subject)
    vendor = world.camera(tenant, "entrance").vendor_id  # the probe's camera: its vendor's topic
    probes: list[tuple[float, str]] = []
    stop = asyncio.Event()

    async def probe() -> None:
        n = 0
        while not stop.is_set():
            capture = _probe(world, tenant, subject, n)
            await producer.capture(capture, vendor_id=vendor)
            probes.append((time.time(), capture.event_id))
            n += 1
            await asyncio.sleep(PROBE_MS / 1000)  # the probe's sending interval

    prober = asyncio.create_task(probe())
    await asyncio.sleep(5 * PROBE_MS / 1000)  # a few probes while the consent still holds
    withdrawn_at = datetime.now(UTC)
    await producer.withdraw_consent(consent, withdrawn_at)
    await producer.flush()
    acked = time.time()
    erased_id = erasure_event_id(tenant, subject, "WITHDRAWN", int(withdrawn_at.timestamp() * 1000))
    erased = await watch.until(erased_id)
    await asyncio.sleep(5 * PROBE_MS / 1000)  # a few probes after the erasure
    stop.set()
    await prober
    await producer.flush()
    for _, event_id in probes:
        await watch.until(event_id)
    forwarded_after = [t for t, e in probes if t >= acked and watch.seen[e][1] is Decision.FORWARDED]
    forwarded_before = [t for t, e in probes if t < acked and watch.seen[e][1] is Decision.FORWARDED]
    enforced = max(forwarded_after) + PROBE_MS / 1000 - acked if forwarded_after else 0.0
    return {
        "erasure_s": erased - acked, "enforced_s": enforced,
        "forwarded_before_withdrawal": len(forwarded_before), "forwarded_after_withdrawal": len(forwarded_after),
    }  # fmt: skip


def run(withdrawals: int, bootstrap: str, work: Path) -> dict[str, Any]:
    world = build_world(seed=91, tenants=tuple(TENANTS), subjects_per_tenant=max(10, withdrawals // 2 + 3))
    settings = Settings(
        bootstrap_servers=bootstrap, topic_prefix=f"bench.{run_tag()}.w.", partitions=PARTITIONS, tenants=TENANTS,
        vendors=list(VENDORS),
    )  # fmt: skip
    ensure_gateway_topics(settings, TENANTS)
    worker = LocalWorker(work / "worker.log", {
        "FACEGATE_BOOTSTRAP_SERVERS": bootstrap, "FACEGATE_TOPIC_PREFIX": settings.topic_prefix,
        "FACEGATE_APP_ID": f"bench-{run_tag()}-withdrawal", "FACEGATE_PARTITIONS": str(PARTITIONS),
        "FACEGATE_TENANTS": json.dumps(TENANTS), "FACEGATE_VENDORS": json.dumps(list(VENDORS)),
        "FACEGATE_CACHE_DIR": str(work / "cache"),
        "FACEGATE_KEYRING": Keyring.generate(TENANTS).export(), "FACEGATE_WORKER_LOGLEVEL": "warn",
        "FACEGATE_BATCH_WAIT_MS": "5",
    })  # fmt: skip
    worker.start()
    subjects = [(t, s) for (t, s) in world.person_of if not s.endswith(("-000", "-001"))][:withdrawals]

    async def measure() -> list[dict[str, float]]:
        async with FaceGateProducer(settings, linger_ms=0) as producer:
            await publish_world(producer, world)
            await asyncio.to_thread(worker.wait_for_enrolled, len(world.enrollments))
            watch = AuditWatch(bootstrap, TopicNames(settings.topic_prefix).audit)
            await watch.start()
            try:
                return [await _one(producer, watch, world, t, s) for t, s in subjects]
            finally:
                await stop_quietly(watch.consumer)

    try:
        samples = asyncio.run(measure())
    finally:
        worker.stop()
    erasure = np.array([s["erasure_s"] for s in samples]) * 1000
    enforced = np.array([s["enforced_s"] for s in samples]) * 1000
    return {
        "withdrawals": len(samples), "probe_interval_ms": PROBE_MS, "partitions": PARTITIONS,
        "erasure_ms": {"p50": float(np.percentile(erasure, 50)), "p99": float(np.percentile(erasure, 99)), "max": float(erasure.max())},
        "enforced_ms": {"p50": float(np.percentile(enforced, 50)), "p99": float(np.percentile(enforced, 99)), "max": float(enforced.max())},
        "probes_forwarded_after_withdrawal": int(sum(s["forwarded_after_withdrawal"] for s in samples)),
        "probes_forwarded_before_withdrawal": int(sum(s["forwarded_before_withdrawal"] for s in samples)),
        "goal_p99_ms": 1000,
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    e, f = result["erasure_ms"], result["enforced_ms"]
    return "\n".join([
        f"# Withdrawal to enforcement ({result['withdrawals']} withdrawals, probes every {result['probe_interval_ms']} ms, {result['partitions']} partitions)",
        "", "| | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|",
        f"| withdrawal acked -> ERASED audit read back | {e['p50']:.0f} | {e['p99']:.0f} | {e['max']:.0f} |",
        f"| withdrawal acked -> no capture forwarded any more | {f['p50']:.0f} | {f['p99']:.0f} | {f['max']:.0f} |",
        "", f"Probes forwarded before the withdrawal: {result['probes_forwarded_before_withdrawal']}; after it was acknowledged: "
        f"{result['probes_forwarded_after_withdrawal']}. Goal: p99 <= {result['goal_p99_ms']} ms.", "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--withdrawals", type=int, default=40)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with scratch() as work:
        result = on_broker(args.bootstrap, work, lambda bootstrap: run(args.withdrawals, bootstrap, work))
        write_results("withdrawal", result, markdown(result))


if __name__ == "__main__":
    main()
