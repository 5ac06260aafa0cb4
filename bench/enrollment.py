"""Benchmark: enrolling a large gallery through the enrollment path itself (outside CI).

    python -m bench.enrollment [--subjects 100000] [--workers 2] [--bootstrap host:port]

A tenant's systems send N consent records, then N Enrollment records with raw templates
(synthetic-512, 2 KB each), batched by the SDK's producer (linger 5 ms, acks=all). The workers
(one consumer group) decide each enrollment in their lifecycle agent: check consent, protect the
template under the tenant's key, write the EnrolledTemplate and its audit record; every worker
follows the whole enrolled topic into its index. Reported: enrollments per second (first sent
to the last one searchable in the first worker's index), the time a restarted worker takes
until the whole gallery is searchable again, and each worker's resident memory.
Writes bench/results/enrollment.json and enrollment.md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.broker import on_broker
from bench.pipeline import PARTITIONS, run_tag
from bench.results import cpu_seconds, rss_bytes, write_results
from bench.scratch import scratch
from gateway.contract.models import ConsentRecord, Enrollment
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import EPOCH, GOOD_CAPTURE_NOISE, NOTICE, VENDORS
from gateway.settings import Settings
from gateway.shell.local import LocalWorker

TENANT = "acme"
CHUNK = 50_000


async def _send(settings: Settings, subjects: int) -> float:
    """Consents, then enrollments; returns when the last enrollment was acknowledged."""
    async with FaceGateProducer(settings) as producer:
        for start in range(0, subjects, CHUNK):
            for i in range(start, min(subjects, start + CHUNK)):
                await producer.record_consent(ConsentRecord(
                    tenant_id=TENANT, subject_id=f"s{i:07d}", status=ConsentStatus.GRANTED,
                    purposes=[Purpose.REPEAT_VISITOR_RECOGNITION], separate=True, method=ConsentMethod.ELECTRONIC,
                    notice_version=NOTICE, granted_at=EPOCH,
                ))  # fmt: skip
        await producer.flush()
        for start in range(0, subjects, CHUNK):
            population = Population.create(SYNTHETIC_512, min(CHUNK, subjects - start), 500 + start // CHUNK)
            faces = population.captures(np.arange(len(population.identities)), 0, noise=GOOD_CAPTURE_NOISE)
            for i, face in enumerate(faces):
                await producer.enroll(Enrollment(
                    tenant_id=TENANT, subject_id=f"s{start + i:07d}", template=to_bytes(face),
                    template_model=SYNTHETIC_512.name, enrolled_at=EPOCH,
                ))  # fmt: skip
        await producer.flush()
    return time.monotonic()


def _worker(work: Path, bootstrap: str, prefix: str, app_id: str, keyring: str, n: int) -> LocalWorker:
    return LocalWorker(work / f"{app_id}-{n}-{run_tag()}.log", {
        "FACEGATE_BOOTSTRAP_SERVERS": bootstrap, "FACEGATE_TOPIC_PREFIX": prefix, "FACEGATE_APP_ID": app_id,
        "FACEGATE_PARTITIONS": str(PARTITIONS), "FACEGATE_TENANTS": json.dumps([TENANT]),
        "FACEGATE_VENDORS": json.dumps(list(VENDORS)), "FACEGATE_CACHE_DIR": str(work / f"cache-{n}"),
        "FACEGATE_KEYRING": keyring, "FACEGATE_WORKER_LOGLEVEL": "warn",
    })  # fmt: skip


def run(subjects: int, bootstrap: str, work: Path, workers: int = 2) -> dict[str, Any]:
    tag = run_tag()
    prefix = f"bench.{tag}.e."
    settings = Settings(
        bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=PARTITIONS, tenants=[TENANT], vendors=list(VENDORS)
    )
    ensure_gateway_topics(settings, [TENANT])
    keyring = Keyring.generate([TENANT]).export()
    app_id = f"bench-{tag}-enroll"
    pool = [_worker(work, bootstrap, prefix, app_id, keyring, n) for n in range(workers)]
    for w in pool:
        w.start(timeout=600)
    try:
        cpu_before = [cpu_seconds(w.process.pid or 0) for w in pool]
        started = time.monotonic()
        sent = asyncio.run(_send(settings, subjects))
        for w in pool:
            w.wait_for_enrolled(subjects, timeout=6 * 3600)
        searchable = time.monotonic()
        cpu = [cpu_seconds(w.process.pid or 0) - b for w, b in zip(pool, cpu_before, strict=True)]
        rss = [rss_bytes(w.process.pid or 0) for w in pool]
        # A restart: a new process of the first worker reads the whole enrolled topic again.
        pool[0].stop()
        restarted = _worker(work, bootstrap, prefix, app_id, keyring, 0)
        pool[0] = restarted
        began = time.monotonic()
        restarted.start(timeout=3600)
        ready = time.monotonic()
        restarted.wait_for_enrolled(subjects, timeout=3600)
        after_restart = time.monotonic() - began
        rss_restarted = rss_bytes(restarted.process.pid or 0)
    finally:
        for w in pool:
            w.stop()
    return {
        "subjects": subjects, "workers": workers, "partitions": PARTITIONS,
        "send_seconds": sent - started, "enrollments_per_second": subjects / (searchable - started),
        "worker_cpu_seconds_per_1000": [1000 * c / subjects for c in cpu],
        "worker_rss_bytes": rss, "rss_bytes_after_restart": rss_restarted,
        "restart_ready_seconds": ready - began, "restart_searchable_seconds": after_restart,
    }  # fmt: skip


def markdown(r: dict[str, Any]) -> str:
    return "\n".join([
        f"# Enrollment through the enrollment path ({r['subjects']:,} subjects, one tenant, {r['workers']} workers in one group, {r['partitions']} partitions)",
        "", "| | |", "|---|---:|",
        f"| enrollments per second (first consent sent -> all searchable in every worker) | {r['enrollments_per_second']:,.0f} |",
        f"| producer side: sending consents and enrollments (s) | {r['send_seconds']:,.0f} |",
        "| CPU-s per 1,000 enrollments, each worker | " + " / ".join(f"{c:.2f}" for c in r["worker_cpu_seconds_per_1000"]) + " |",
        "| RSS MiB, each worker | " + " / ".join(f"{b / 2**20:,.0f}" for b in r["worker_rss_bytes"]) + " |",
        f"| restart: process ready (s) | {r['restart_ready_seconds']:,.1f} |",
        f"| restart: whole gallery searchable (s) | {r['restart_searchable_seconds']:,.1f} |",
        f"| RSS MiB after the restart | {r['rss_bytes_after_restart'] / 2**20:,.0f} |", "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with scratch() as work:
        result = on_broker(args.bootstrap, work, lambda bootstrap: run(args.subjects, bootstrap, work, args.workers))
        write_results("enrollment", result, markdown(result))


if __name__ == "__main__":
    main()
