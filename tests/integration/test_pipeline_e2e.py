"""The governance pipeline end to end on Apache Kafka: a worker process, the SDK, a scripted day.

Every input gets exactly one audit decision after dedupe by event id, with the decision and
rules the law requires; a tenant's data never reaches another tenant's topic; and no raw
template or image byte is found on any topic but raw captures and enrollments.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord, GovernedFace, RejectedEvent
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision
from gateway.core.records import decided_a_capture
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import Records, list_topics, read_topic
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import VENDORS, Capture, Traffic, World, build_world
from gateway.sdk.simulator import publish_world, send_capture
from gateway.settings import Settings
from gateway.shell.local import LocalWorker
from tests.support.kafka import Unique
from tests.support.leaks import LeakFinder, keyring_keys

pytestmark = pytest.mark.kafka
CODEC = default_codec()
TENANTS = ["acme", "beta"]


@dataclass
class Gateway:
    settings: Settings
    names: TopicNames
    worker: LocalWorker
    world: World
    keyring: str


@pytest.fixture
def gateway(kafka: KafkaBroker, unique: Unique, tmp_path: Path) -> Iterator[Gateway]:
    settings = Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        topic_prefix=unique.prefix,
        partitions=2,
        tenants=TENANTS,
        vendors=list(VENDORS),
    )
    ensure_gateway_topics(settings, TENANTS)
    keyring = Keyring.generate(TENANTS).export()
    worker = LocalWorker(
        tmp_path / "worker.log",
        {
            "FACEGATE_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "FACEGATE_TOPIC_PREFIX": unique.prefix,
            "FACEGATE_APP_ID": unique.group("worker"),
            "FACEGATE_PARTITIONS": "2",
            "FACEGATE_TENANTS": json.dumps(TENANTS),
            "FACEGATE_VENDORS": json.dumps(VENDORS),
            "FACEGATE_CACHE_DIR": str(tmp_path / "cache"),
            "FACEGATE_KEYRING": keyring,
            "FACEGATE_LOG_FORMAT": "json",  # the leak scan below reads the JSON log operators would ship
        },
    )
    worker.start()
    try:
        yield Gateway(settings, TopicNames(unique.prefix), worker, build_world(seed=7, tenants=tuple(TENANTS)), keyring)
    finally:
        code = worker.stop()
        print(worker.log_tail())
        assert code == 0, f"worker exited with {code}"


async def _run_day(gateway: Gateway, items: list[Capture], repeats: list[Capture]) -> None:
    async with FaceGateProducer(gateway.settings) as producer:
        await publish_world(producer, gateway.world)
        await asyncio.to_thread(gateway.worker.wait_for_enrolled, len(gateway.world.enrollments))
        for item in items + repeats:
            await send_capture(producer, item)


def _audits(records: Records) -> list[AuditRecord]:
    """Audit records only: signed checkpoints are interleaved with them."""
    decoded = (CODEC.decode_any(r.value or b"") for r in records)
    return [a for a in decoded if isinstance(a, AuditRecord) and decided_a_capture(a.event_id)]


def test_a_scripted_day(gateway: Gateway) -> None:
    items = Traffic(gateway.world).take(400)
    repeats = [i for i in items if i.capture is not None][:25]  # a camera resending
    asyncio.run(_run_day(gateway, items, repeats))
    client, names = {"bootstrap_servers": gateway.settings.bootstrap_servers}, gateway.names

    audit_records = asyncio.run(
        read_topic(
            client,
            names.audit,
            until=lambda rs: len({a.event_id for a in _audits(rs)}) >= len(items),
        )
    )
    audits = _audits(audit_records)

    # One decision per input after dedupe by event id; an at-least-once repeat is the same record.
    by_event: dict[str, AuditRecord] = {}
    for audit in audits:
        assert by_event.setdefault(audit.event_id, audit).audit_id == audit.audit_id
    assert len(by_event) == len(items)
    malformed = [a for a in by_event.values() if a.event_id.startswith("undecodable:")]
    assert len(malformed) == sum(1 for i in items if i.capture is None)
    assert all(a.decision is Decision.REJECTED and "R19" in a.rule_ids for a in malformed)
    for item in items:
        if item.capture is None:
            continue
        audit = by_event[item.capture.event_id]
        assert audit.decision is item.expected.decision, (item.kind, audit.reason_codes)
        assert item.expected.rule in audit.rule_ids, (item.kind, audit.rule_ids)
    # The worker counts a batch only after Kafka acknowledged all its outputs, so once every input
    # and every repeat is counted, the governed and dead-letter topics are complete too (an audit
    # record can be readable before its batch's last governed record is acknowledged).
    gateway.worker.wait_until(
        lambda: (
            gateway.worker.metric("facegate_duplicates_dropped_total") >= len(repeats)
            and _captures_decided(gateway.worker) >= len(items)
            and gateway.worker.metric("facegate_batch_captures_sum") >= len(items) + len(repeats)
        ),
        30,
        "every input and repeat counted",
    )
    assert gateway.worker.metric("facegate_duplicates_dropped_total") == len(repeats)
    assert _captures_decided(gateway.worker) == len(items)
    # Every capture and repeat was in exactly one decided batch.
    assert gateway.worker.metric("facegate_batch_captures_sum") == len(items) + len(repeats)
    assert 1 <= gateway.worker.metric("facegate_batch_captures_count") <= len(items) + len(repeats)
    # Each batch is timed once in every phase, and deciding and Kafka's acknowledgements take time.
    batches = gateway.worker.metric("facegate_batch_captures_count")
    for phase in ("queued", "wait", "decide", "effects", "audit"):
        assert gateway.worker.metric("facegate_batch_phase_seconds_count", phase=phase) == batches, phase
    for phase in ("decide", "effects", "audit"):
        assert gateway.worker.metric("facegate_batch_phase_seconds_sum", phase=phase) > 0, phase

    # Tenants see only their own events.
    forwarded: Counter[tuple[str, Decision]] = Counter()
    for tenant in TENANTS:
        for record in asyncio.run(read_topic(client, names.governed(tenant))):
            face = CODEC.decode(record.value, GovernedFace)
            assert face.tenant_id == tenant
            forwarded[(tenant, face.decision)] += 1
    for tenant in TENANTS:
        expected = sum(1 for a in by_event.values() if a.tenant_id == tenant and a.decision is Decision.FORWARDED)
        assert forwarded[(tenant, Decision.FORWARDED)] >= expected > 0

    dead = [CODEC.decode(r.value, RejectedEvent) for r in asyncio.run(read_topic(client, names.rejected))]
    assert {d.reason_code for d in dead} <= {
        "DECODE_TOO_SHORT",
        "DECODE_BAD_MARKER",
        "DECODE_UNKNOWN_FINGERPRINT",
    }
    assert len({d.rejected_id for d in dead}) == len(malformed)

    # An operator's SIGUSR1 shows where each task and agent waits; it goes to the log scanned below.
    dump = gateway.worker.task_dump()
    assert "agent facegate.captures #0:" in dump and "agent facegate.lifecycle #0:" in dump

    # No template (raw, rounded or printed), image or key anywhere but the raw inputs: not on any
    # topic, in the worker's log (task dump included), or on /metrics.
    finder = LeakFinder(
        [i.capture.template for i in items if i.capture] + [e.template for e in gateway.world.enrollments],
        [i.capture.image for i in items if i.capture and i.capture.image],
        keyring_keys(gateway.keyring),
    )
    topics = {
        t
        for t in asyncio.run(list_topics(client))
        if t.startswith(names.prefix) or t.startswith(gateway.settings.app_id)
    }
    topics |= {t for t in asyncio.run(list_topics(client)) if t.startswith(names.prefix.rstrip(".") + "-")}
    blobs = {
        topic: b"".join((r.key or b"") + (r.value or b"") for r in asyncio.run(read_topic(client, topic)))
        for topic in sorted(topics)
        if names.kind_of(topic) not in ("faces.raw", "enroll")  # the raw inputs
    }
    log = gateway.worker.process.log_path.read_bytes()
    assert b'"level":' in log, "the worker logged JSON"
    blobs["worker log"] = log
    blobs["/metrics"] = gateway.worker.get("/metrics")[1].encode()
    assert sum(len(b) for b in blobs.values()) > 0 and names.enrolled in topics
    assert names.audit in topics and names.governed("acme") in topics
    assert finder.leaks(blobs) == []

    # Metrics name tenants, decisions and rules, never people or events.
    metrics = gateway.worker.get("/metrics")[1]
    assert 'tenant="acme"' in metrics and "customer-" not in metrics and "evt-" not in metrics


def _captures_decided(worker: LocalWorker) -> float:
    """Decisions counted by the worker, less the world's audited consents and enrollments."""
    lifecycle = sum(worker.metric("facegate_decisions_total", decision=d) for d in ("ENROLLED", "CONSENT_RECORDED"))
    return worker.metric("facegate_decisions_total") - lifecycle
