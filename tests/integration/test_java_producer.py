"""A Java producer written from docs/vendors.md (producers/java: Apache Avro's generated classes,
`toByteBuffer()` values, the Apache Kafka Java client) publishes camera registrations to their
tenants' topics and face captures to its vendor's topic (FACEGATE_VENDOR_ID) on Apache Kafka, and
the gateway decides every capture: FORWARDED for a consented, enrolled subject, STRIPPED otherwise,
nothing dead-lettered; a capture it sends as another vendor than the camera's is REJECTED
(VENDOR_MISMATCH), and captures without a vendor it refuses to send. The tenants' consents and
enrollments come from the Python SDK, as a tenant's systems would send them.

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
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord, FaceCaptured, RejectedEvent
from gateway.contract.schemas import SchemaSet
from gateway.contract.vocabulary import Decision
from gateway.core.policy.reasons import Reason
from gateway.core.records import decided_a_capture
from gateway.sdk.scenario import Capture, Traffic
from tests.support.deployment import Deployment
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "producers" / "java"
CONTRACT = default_contract()
CODEC = default_codec()
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
    # The Avro classes are generated anew (the plugin regenerates by file times; a removed schema's
    # class would stay): `clean` would need maven-clean-plugin, which an offline build may lack.
    shutil.rmtree(PROJECT / "target" / "generated-sources", ignore_errors=True)
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


def run_java(
    jar: Path, lines: list[str], workdir: Path, kafka: KafkaBroker, unique: Unique,
    vendor: str | None = None, exit_code: int = 0,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Runs the producer on `lines`, as `vendor` (FACEGATE_VENDOR_ID) or as a tenant's systems (None)."""
    source = workdir / f"java-input-{len(list(workdir.glob('java-input-*')))}.tsv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    java = shutil.which("java")
    assert java is not None
    env = {
        **{k: v for k, v in os.environ.items() if k != "FACEGATE_VENDOR_ID"},
        "FACEGATE_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "FACEGATE_TOPIC_PREFIX": unique.prefix,
        **({"FACEGATE_VENDOR_ID": vendor} if vendor is not None else {}),
    }
    ran = subprocess.run(
        [java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-jar", str(jar), str(source)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == exit_code, ran.stdout[-3000:] + ran.stderr[-3000:]
    return ran


def _millis(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def camera_line(tenant: str, vendor: str) -> str:
    """The tenant's entrance camera of the Java vendor: only `vendor`'s captures of it are accepted."""
    fields = [f"{tenant}-java-entrance", tenant, f"{tenant}-site-1", "RETAIL", "true",
              "REPEAT_VISITOR_RECOGNITION,SECURITY", "CN-ZJ", vendor]  # fmt: skip
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
    items = captures(d)
    sent = {i.capture.event_id: i for i in items if i.capture is not None}
    assert len(sent) == len(items) == sum(KINDS.values())
    (vendor,) = {i.vendor for i in items}  # the entrance cameras' vendor: Java films for it
    other = next(v for v in d.world.vendors if v != vendor)
    lines = [capture_line(i.capture) for i in items if i.capture]

    # No vendor, no captures: there is no topic for them (and none of INPUT is sent).
    refused = run_java(jar, lines, tmp_path, kafka, unique, vendor=None, exit_code=2)
    assert "FACEGATE_VENDOR_ID" in refused.stderr and "nothing sent" in refused.stderr

    worker = d.start_worker()
    try:
        # The Java build writes the fingerprints the gateway knows. Cameras go to their tenants'
        # topics, sent as the tenants' systems would (no vendor id), each naming the Java vendor.
        schemas = SchemaSet.load()
        out = run_java(jar, [camera_line(t, vendor) for t in ("acme", "beta")], tmp_path, kafka, unique).stdout
        assert f"fingerprint FaceCaptured {schemas['FaceCaptured'].fingerprint.hex()}" in out
        assert f"fingerprint CameraRegistration {schemas['CameraRegistration'].fingerprint.hex()}" in out
        for tenant in ("acme", "beta"):
            assert f"topic {d.names.cameras(tenant)} 1" in out
        asyncio.run(d.publish_world(worker))  # tenants: consents, then enrollments (the Python SDK)

        out = run_java(jar, lines, tmp_path, kafka, unique, vendor=vendor).stdout
        assert f"topic {d.names.captures(vendor)} {len(items)}" in out
        assert f"sent 0 camera registrations, {len(items)} captures" in out
        # The same camera's capture from another vendor's topic: that vendor does not film it.
        assert items[0].capture is not None
        stray = items[0].capture.model_copy(update={"event_id": f"{items[0].capture.event_id}-{other}"})
        out = run_java(jar, [capture_line(stray)], tmp_path, kafka, unique, vendor=other).stdout
        assert f"topic {d.names.captures(other)} 1" in out

        every = {*sent, stray.event_id}
        audits = d.audits(lambda found: every <= {a.event_id for a in found}, timeout=120)
        decided: dict[str, AuditRecord] = {}
        for audit in filter(lambda a: decided_a_capture(a.event_id), audits):  # the world's consents are audited too
            assert decided.setdefault(audit.event_id, audit).audit_id == audit.audit_id  # one decision each
        assert set(decided) == every
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
        assert decided[stray.event_id].decision is Decision.REJECTED
        assert Reason.VENDOR_MISMATCH in decided[stray.event_id].reason_codes, decided[stray.event_id]

        # Counted only once every output of a batch is acknowledged: the dead-letter topic is complete.
        worker.wait_until(lambda: worker.metric("facegate_decisions_total") >= len(every), 30, "every capture counted")
        letters = [CODEC.decode_any(r.value or b"") for r in d.read(d.names.rejected)]
        assert [(r.event_id, r.source_topic, r.reason_code) for r in letters if isinstance(r, RejectedEvent)] == [
            (stray.event_id, d.names.captures(other), Reason.VENDOR_MISMATCH)
        ], letters  # only the stray capture is dead-lettered

        # What Java wrote is byte for byte what the Python SDK writes for the same captures, once each
        # (the refused run sent nothing).
        raw = [((r.key or b"").decode(), r.value) for r in d.read(d.names.captures(vendor))]
        assert sorted(key for key, _ in raw) == sorted(sent)
        for event_id, value in raw:
            item = sent[event_id]
            assert item.capture is not None
            assert value == CONTRACT.encode(item.capture), item.kind
    finally:
        codes = d.stop_all()
        print(worker.log_tail())
    assert codes == [0], f"worker exited with {codes}"
