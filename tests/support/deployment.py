"""A worker and its world on the session's Apache Kafka, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError

from gateway.brokers.apache_kafka import KafkaBroker, KafkaCluster
from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.records import decided_a_capture
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import Records, committed_offsets, read_topic
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Capture, World, build_world
from gateway.sdk.simulator import publish_world, run_traffic, send_capture
from gateway.settings import Settings
from gateway.shell.local import LocalWorker
from tests.support.kafka import Unique

TENANTS = ["acme", "beta"]
CODEC = default_codec()


@dataclass
class Deployment:
    """Topics, keys and a world under a unique prefix; workers started on demand."""

    kafka: KafkaBroker | KafkaCluster
    unique: Unique
    workdir: Path
    partitions: int = 2
    replication_factor: int = 1  # of the inputs and Faust's topic; durable topics get 3 where brokers allow
    keyring: str = field(default_factory=lambda: Keyring.generate(TENANTS).export())
    world: World = field(default_factory=lambda: build_world(seed=7, tenants=tuple(TENANTS)))
    workers: list[LocalWorker] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ensure_gateway_topics(self.settings, TENANTS)

    @property
    def settings(self) -> Settings:
        return Settings(
            bootstrap_servers=self.kafka.bootstrap_servers,
            topic_prefix=self.unique.prefix,
            partitions=self.partitions,
            replication_factor=self.replication_factor,
            tenants=TENANTS,
            vendors=list(self.world.vendors),
        )

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.unique.prefix)

    @property
    def env(self) -> dict[str, str]:
        return {
            "FACEGATE_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "FACEGATE_TOPIC_PREFIX": self.unique.prefix,
            "FACEGATE_APP_ID": self.unique.group("worker"),
            "FACEGATE_PARTITIONS": str(self.partitions),
            "FACEGATE_REPLICATION_FACTOR": str(self.replication_factor),
            "FACEGATE_TENANTS": json.dumps(TENANTS),
            "FACEGATE_VENDORS": json.dumps(list(self.world.vendors)),
            "FACEGATE_CACHE_DIR": str(self.workdir / "cache"),
            "FACEGATE_KEYRING": self.keyring,
            **self.extra_env,
        }

    def start_worker(self) -> LocalWorker:
        worker = LocalWorker(self.workdir / f"worker-{len(self.workers)}.log", self.env)
        self.workers.append(worker)
        worker.start()
        return worker

    def stop_all(self) -> list[int | None]:
        return [w.stop() for w in self.workers]

    async def publish_world(self, worker: LocalWorker) -> None:
        async with FaceGateProducer(self.settings) as producer:
            await publish_world(producer, self.world)
        await asyncio.to_thread(worker.wait_for_enrolled, len(self.world.enrollments))

    async def send(self, items: list[Capture], rate: float | None = None) -> None:
        """Send captures: at once, or at `rate` per second (a stream that outlasts a worker's start)."""
        async with FaceGateProducer(self.settings) as producer:
            if rate is not None:
                await run_traffic(producer, iter(items), rate, count=len(items))
                return
            for item in items:
                await send_capture(producer, item)

    def read(self, topic: str, until: Callable[[Records], bool] | None = None, timeout: float = 60) -> Records:
        return asyncio.run(read_topic({"bootstrap_servers": self.kafka.bootstrap_servers}, topic, until, timeout))

    def audits(self, until: Callable[[list[AuditRecord]], bool], timeout: float = 60) -> list[AuditRecord]:
        """Audit records (checkpoints left out), once `until` holds for them."""

        audits: list[AuditRecord] = []
        read = 0

        def decoded(records: Records) -> list[AuditRecord]:
            nonlocal read  # each poll decodes only the records it has not seen
            audits.extend(a for r in records[read:] if isinstance(a := CODEC.decode_any(r.value or b""), AuditRecord))
            read = len(records)
            return audits

        self.read(self.names.audit, lambda records: until(decoded(records)), timeout)
        return audits

    def audit_records(self, at_least_events: int | None = None, timeout: float = 120) -> Records:
        """The audit topic, waiting (with a deadline) until `at_least_events` distinct captures are decided."""
        until = None
        if at_least_events is not None:
            ids: set[str] = set()
            read = 0

            def until(records: Records) -> bool:
                nonlocal read  # decode each record once: the topic can hold 50,000 decisions
                for r in records[read:]:
                    decoded = CODEC.decode_any(r.value or b"")
                    if isinstance(decoded, AuditRecord) and decided_a_capture(decoded.event_id):
                        ids.add(decoded.event_id)
                read = len(records)
                return len(ids) >= at_least_events

        return asyncio.run(
            read_topic({"bootstrap_servers": self.kafka.bootstrap_servers}, self.names.audit, until, timeout)
        )

    def decided_ids(self) -> set[str]:
        """Event ids with an audit decision, read to the audit topic's end."""
        return {
            a.event_id
            for r in self.read(self.names.audit, timeout=120)
            if isinstance(a := CODEC.decode_any(r.value or b""), AuditRecord)
        }

    @property
    def capture_topics(self) -> list[str]:
        return [self.names.captures(vendor) for vendor in self.world.vendors]

    def raw_positions(self) -> dict[str, tuple[str, int, int]]:
        """Each decodable capture's (topic, partition, offset) on the vendors' topics, by event id."""
        positions: dict[str, tuple[str, int, int]] = {}
        for r in [r for topic in self.capture_topics for r in self.read(topic, timeout=120)]:
            try:
                event_id = getattr(CODEC.decode_any(r.value or b""), "event_id", None)
            except DecodeError:
                continue  # the traffic's malformed records; their decisions are keyed by position
            if event_id is not None:
                positions.setdefault(event_id, (r.topic, r.partition, r.offset))  # a replayed id: its first
        return positions

    def committed(self) -> dict[tuple[str, int], int]:
        """The worker group's committed offset per capture topic partition: where a restart resumes."""
        try:
            offsets = asyncio.run(
                committed_offsets({"bootstrap_servers": self.kafka.bootstrap_servers}, self.env["FACEGATE_APP_ID"])
            )
        except KafkaError:
            return {}  # no group yet: no worker ever committed
        return {where: offset for where, offset in offsets.items() if where[0] in self.capture_topics}

    def undecided(self, items: list[Capture]) -> str:
        """Why inputs lack a decision: per raw partition, the undecided offsets next to the group's
        committed offset, and where each running worker's tasks wait."""
        dumps = [f"worker {n}: {w.task_dump()}" for n, w in enumerate(self.workers) if w.running()]
        decided, committed = self.decided_ids(), self.committed()
        sent = {i.capture.event_id for i in items if i.capture is not None}
        missing: dict[tuple[str, int], list[int]] = defaultdict(list)
        for event_id, (topic, partition, offset) in self.raw_positions().items():
            if event_id in sent and event_id not in decided:
                missing[(topic, partition)].append(offset)
        lines = [
            f"{topic} partition {p}: {len(offsets)} undecided, offsets {min(offsets)}..{max(offsets)};"
            f" group committed {committed.get((topic, p))}"
            for (topic, p), offsets in sorted(missing.items())
        ]
        return "\n".join([*(lines or ["every sent capture has a decision"]), *dumps])
