"""A Java producer written from docs/vendors.md (producers/java: Apache Avro's generated classes,
`toByteBuffer()` values, the Apache Kafka Java client) publishes a camera registration and face
captures on Apache Kafka, and the gateway decides every capture: FORWARDED for a consented,
enrolled subject, STRIPPED otherwise, nothing dead-lettered. The tenants' consents and enrollments
come from the Python SDK, as a tenant's systems would send them.

Maven builds the producer once per change of its sources or of the schemas (offline when the local
repository already holds every artifact, else from Maven Central); the jar is cached by that hash.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from facegate_sdk import default_contract

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.contract.models import AuditRecord, FaceCaptured
from gateway.contract.schemas import SchemaSet
from gateway.contract.vocabulary import Decision
from gateway.core.records import decided_a_capture
from gateway.sdk.scenario import Capture, Traffic
from tests.support.deployment import Deployment
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "producers" / "java"
CONTRACT = default_contract()
TOOLS = Path(os.environ.get("FACEGATE_CACHE_DIR", Path.home() / ".cache" / "facegate")) / "tools"
# Captures from the cameras' entrance: consented enrolled customers (FORWARDED), and faces the
# gateway must strip (strangers, masked faces, a minor without a guardian's consent).
KINDS = {"consenting-customer": 10, "repeat-visitor": 4, "minor-with-guardian": 2,
         "stranger": 8, "masked": 4, "minor-without-guardian": 2}  # fmt: skip


def _sources_digest() -> str:
    digest = hashlib.sha256()
    files = [
        PROJECT / "pom.xml",
        *sorted((PROJECT / "src").rglob("*.java")),
        *sorted((ROOT / "schemas").glob("*.avsc")),
    ]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def java_producer() -> Path:
    """The producer's jar, built by Maven unless this version of its sources was built before."""
    jar = TOOLS / f"facegate-java-producer-{_sources_digest()}.jar"
    if jar.is_file():
        return jar
    mvn = shutil.which("mvn")
    assert mvn is not None, "Maven is needed (scripts/install installs it)"
    started = time.monotonic()
    build = [mvn, "-B", "-q", "-f", str(PROJECT / "pom.xml"), "package", "-DskipTests"]
    built = subprocess.run([*build[:3], "-o", *build[3:]], capture_output=True, text=True, timeout=600, check=False)
    if built.returncode != 0:  # the local repository lacks an artifact: fetch it from Maven Central
        built = subprocess.run(build, capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-2000:]
    print(f"maven built the Java producer in {time.monotonic() - started:.1f}s")
    TOOLS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "target" / "facegate-java-producer.jar", str(jar) + ".tmp")
    os.replace(str(jar) + ".tmp", jar)  # atomic: a parallel run never sees half a file
    return jar


def run_java(jar: Path, lines: list[str], workdir: Path, kafka: KafkaBroker, unique: Unique) -> str:
    source = workdir / f"java-input-{len(list(workdir.glob('java-input-*')))}.tsv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    java = shutil.which("java")
    assert java is not None
    env = {
        **os.environ,
        "FACEGATE_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "FACEGATE_TOPIC_PREFIX": unique.prefix,
    }
    ran = subprocess.run(
        [java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-jar", str(jar), str(source)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    return ran.stdout


def _millis(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def camera_line(tenant: str) -> str:
    fields = [f"{tenant}-java-entrance", tenant, f"{tenant}-site-1", "RETAIL", "true",
              "REPEAT_VISITOR_RECOGNITION,SECURITY", "CN-ZJ"]  # fmt: skip
    return "\t".join(["camera", *fields])


def capture_line(c: FaceCaptured) -> str:
    fields = [c.event_id, c.camera_id, c.tenant_id, _millis(c.captured_at), c.purpose.value,
              base64.b64encode(c.template).decode(), c.template_model, repr(c.quality), c.occlusion.value,
              "-" if c.age_estimate is None else str(c.age_estimate)]  # fmt: skip
    return "\t".join(["capture", *fields])


def captures(d: Deployment) -> list[Capture]:
    """The scenario's entrance captures, filmed by the Java vendor's camera instead (no face crop)."""
    traffic = Traffic(d.world, seed=4242)
    items = []
    for kind, count in KINDS.items():
        for _ in range(count):
            item = traffic.make(kind)
            assert item.capture is not None and item.capture.camera_id.endswith("-entrance")
            moved = item.capture.model_copy(
                update={"camera_id": f"{item.capture.tenant_id}-java-entrance", "image": None}
            )
            items.append(Capture(kind, item.expected, capture=moved, subject=item.subject))
    return items


@pytest.mark.timeout(900)
def test_a_java_producer_publishes_captures_the_gateway_decides(
    kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    jar = java_producer()
    d = Deployment(kafka, unique, tmp_path)
    worker = d.start_worker()
    try:
        # The Java build writes the fingerprints the gateway knows.
        schemas = SchemaSet.load()
        out = run_java(jar, [camera_line(t) for t in ("acme", "beta")], tmp_path, kafka, unique)
        assert f"fingerprint FaceCaptured {schemas['FaceCaptured'].fingerprint.hex()}" in out
        assert f"fingerprint CameraRegistration {schemas['CameraRegistration'].fingerprint.hex()}" in out
        asyncio.run(d.publish_world(worker))  # tenants: consents, then enrollments (the Python SDK)

        items = captures(d)
        sent = {i.capture.event_id: i for i in items if i.capture is not None}
        assert len(sent) == len(items) == sum(KINDS.values())
        out = run_java(jar, [capture_line(i.capture) for i in items if i.capture], tmp_path, kafka, unique)
        assert f"sent 0 camera registrations, {len(items)} captures" in out

        audits = d.audits(lambda found: set(sent) <= {a.event_id for a in found}, timeout=120)
        decided: dict[str, AuditRecord] = {}
        for audit in filter(lambda a: decided_a_capture(a.event_id), audits):  # the world's consents are audited too
            assert decided.setdefault(audit.event_id, audit).audit_id == audit.audit_id  # one decision each
        assert set(decided) == set(sent)
        for event_id, item in sent.items():
            assert item.capture is not None
            audit = decided[event_id]
            expected = Decision.FORWARDED if item.expected.decision is Decision.FORWARDED else Decision.STRIPPED
            assert item.expected.decision is expected, item.kind  # the scenario's kinds chosen above
            assert audit.decision is expected, (item.kind, audit.reason_codes)
            assert item.expected.rule in audit.rule_ids, (item.kind, audit.rule_ids)
            assert audit.camera_id == item.capture.camera_id
        forwarded = KINDS["consenting-customer"] + KINDS["repeat-visitor"] + KINDS["minor-with-guardian"]
        assert sum(1 for a in decided.values() if a.decision is Decision.FORWARDED) == forwarded

        # Counted only once every output of a batch is acknowledged: the dead-letter topic is complete.
        worker.wait_until(lambda: worker.metric("facegate_decisions_total") >= len(items), 30, "every capture counted")
        assert d.read(d.names.rejected) == [], "nothing dead-lettered"

        # What Java wrote is byte for byte what the Python SDK writes for the same captures.
        raw = {(r.key or b"").decode(): r.value for r in d.read(d.names.raw)}
        for event_id, item in sent.items():
            assert item.capture is not None
            assert raw[event_id] == CONTRACT.encode(item.capture), item.kind
    finally:
        codes = d.stop_all()
        print(worker.log_tail())
    assert codes == [0], f"worker exited with {codes}"
