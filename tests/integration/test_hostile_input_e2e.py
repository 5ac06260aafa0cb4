"""No record stops the gateway, whoever wrote it (issue 14): hostile records on every input topic of
a real Apache Kafka, under a keyring that holds keys only for the tenants it was made for.

Hypothesis makes the records (derandomized, so a failure names the same records again): unknown
tenants, tombstones, keys and bodies naming other tenants, truncated Avro, another schema than the
topic's, oversized ids and keys, far-future and far-past times, random bytes; on each tenant's
four topics, each vendor's capture topic, and the topics of a tenant the keyring has no keys for.
The atheris harness (tests/fuzz/fuzz_decoder.py) adds its corpus: the inputs its coverage-guided
search kept, each mapped to a record on one of those topics as the harness maps it.
They are interleaved with a day of real traffic. The worker keeps deciding: every real capture is
decided as the rules require (so no hostile record changed another tenant's state), every record
on every input topic is acknowledged (decided), each one that speaks for another tenant is
REJECTED with its reason and audited, and the process never exits.

A header key that is not UTF-8 (the broker stores its bytes unchecked; aiokafka's readers refused
it) ended the worker at the first such capture and, on a tenant's camera topic, every worker that
started after it: such a capture is decided and such a registration applied like any other.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord, AvroRecord, RejectedEvent, ShareRequest
from gateway.contract.vocabulary import ConsentStatus, Decision, Purpose
from gateway.core.records import undecodable_event_id
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import committed_offsets, offset_range
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Capture, Traffic, World, build_world
from gateway.sdk.simulator import send_capture
from gateway.shell.local import LocalWorker
from tests.support.deployment import TENANTS, Deployment
from tests.support.fuzzed import UNPROVISIONED, record_of
from tests.support.headers import not_utf8, send_with_header_key
from tests.support.kafka import Unique, eventually

pytestmark = pytest.mark.kafka

HARNESS = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_decoder.py"
WORLD = build_world(seed=7, tenants=tuple(TENANTS))
FAR_FUTURE, FAR_PAST = datetime(2100, 1, 1, tzinfo=UTC), datetime(1970, 1, 2, tzinfo=UTC)
CODEC = default_codec()


@dataclass(frozen=True)
class Hostile:
    kind: str  # cameras, consent, enroll, share.requests (a tenant's topic) or faces.raw (a vendor's)
    owner: str  # the topic's tenant or vendor
    key: bytes | None
    value: bytes | None
    speaks_for_another: bool = False  # names another tenant than the topic's: must be REJECTED
    template: bytes | None = None  # the biometric bytes it carries, which must go nowhere

    def topic(self, d: Deployment) -> str:
        return f"{d.names.prefix}{self.kind}.{self.owner}"


def _records(world: World) -> dict[str, list[AvroRecord]]:
    """Valid records of each kind to start from (the hostile ones are changed copies)."""
    shares: list[AvroRecord] = [
        ShareRequest(request_id=f"r-{c.subject_id}", tenant_id=c.tenant_id, subject_id=c.subject_id,
                     recipient_tenant_id="beta" if c.tenant_id == "acme" else "acme", recipient_region="CN",
                     purpose=Purpose.ACCESS_CONTROL, requested_at=datetime(2026, 11, 26, tzinfo=UTC))
        for c in world.consents[:6]
    ]  # fmt: skip
    return {
        "cameras": list(world.cameras), "consent": list(world.consents), "enroll": list(world.enrollments),
        "share.requests": shares,
        "faces.raw": [i.capture for i in Traffic(world, seed=5).take(20) if i.capture is not None],
    }  # fmt: skip


SAMPLES = _records(WORLD)
ids = st.one_of(
    st.sampled_from(["acme", "beta", UNPROVISIONED, "ghost", ""]),
    st.text(min_size=1, max_size=40),
    st.integers(300, 100_000).map(lambda n: "x" * n),  # oversized
)
times = st.sampled_from([FAR_FUTURE, FAR_PAST, datetime(2026, 11, 26, tzinfo=UTC)])


@st.composite
def hostile(draw: st.DrawFn) -> Hostile:
    kind = draw(st.sampled_from(["cameras", "consent", "enroll", "share.requests", "faces.raw"]))
    owner = draw(st.sampled_from(list(WORLD.vendors) if kind == "faces.raw" else [*TENANTS, UNPROVISIONED]))
    shapes = ["bytes", "tombstone", "other-tenant", "other-tenant", "own", "cut", "oversized", "times", "schema"]
    shape = draw(st.sampled_from(shapes))
    if shape == "schema":  # another kind's record than the topic's
        base = draw(st.sampled_from(SAMPLES[draw(st.sampled_from([k for k in SAMPLES if k != kind]))]))
    elif shape == "other-tenant" and kind == "cameras":
        # Another tenant's camera: a refused registration keyed by one of the owner's own cameras
        # deregisters it (as compaction would), which is the owner's doing, not another's.
        base = draw(st.sampled_from([c for c in SAMPLES[kind] if getattr(c, "tenant_id", None) != owner]))
    else:
        base = draw(st.sampled_from(SAMPLES[kind]))
    changes: dict[str, object] = {}
    fields = type(base).model_fields
    if shape == "other-tenant" and kind != "faces.raw":
        # About the world's subjects and cameras of another tenant: were it applied, the real
        # traffic's decisions would change.
        changes["tenant_id"] = draw(st.sampled_from([t for t in (*TENANTS, "ghost") if t != owner]))
    else:
        # Its own tenant, but never about the world's subjects or cameras (which it may change).
        if "tenant_id" in fields and kind != "faces.raw":
            changes["tenant_id"] = owner
        if "subject_id" in fields:
            changes["subject_id"] = f"h-{draw(st.integers(0, 50))}"
        if "camera_id" in fields and kind != "faces.raw":
            changes["camera_id"] = f"h-cam-{draw(st.integers(0, 50))}"
    if shape == "oversized":
        changes.update({f: draw(ids) for f in ("tenant_id", "subject_id", "camera_id", "event_id") if f in fields})
    elif shape == "times":
        changes.update({f: draw(times) for f in ("captured_at", "granted_at", "withdrawn_at", "enrolled_at",
                                                  "requested_at") if f in fields})  # fmt: skip
        if "status" in fields:
            changes["status"] = draw(st.sampled_from(list(ConsentStatus)))
    template = None
    if "template" in fields:
        template = changes["template"] = draw(st.binary(min_size=0, max_size=2048))  # no face of the world's
    if kind == "faces.raw" and "event_id" not in changes:
        changes["event_id"] = f"h-{draw(st.integers(0, 10**9))}"  # never a real capture's id
    record = base.model_copy(update=changes)  # unvalidated, as a hostile writer's would be
    encoded = CODEC.encode(record)
    value: bytes | None = encoded
    if shape == "bytes":
        value = draw(st.binary(max_size=3000))
    elif shape == "tombstone":
        value = None
    elif shape == "cut":
        value = encoded[: draw(st.integers(0, len(encoded) - 1))]
    key = _key(kind, record, owner, draw)
    if key is None and (value is None or kind in ("cameras", "consent")):
        key = b""  # Kafka itself refuses a record without key and value, and a keyless one on a compacted topic
    foreign = shape == "other-tenant" and kind != "faces.raw"
    return Hostile(kind, owner, key, value, foreign, template if value is not None else None)


def _key(kind: str, record: AvroRecord, owner: str, draw: st.DrawFn) -> bytes | None:
    """Mostly the key the body implies (so the body's tenant is what is judged), else anything."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return None
    if choice == 1:
        return draw(st.binary(max_size=300))
    if choice == 2:
        return f"{owner}/{'k' * draw(st.integers(0, 50_000))}".encode()
    if kind == "cameras":
        return str(getattr(record, "camera_id", "")).encode()
    if kind == "faces.raw":
        return str(getattr(record, "event_id", "")).encode()
    return f"{getattr(record, 'tenant_id', '')}/{getattr(record, 'subject_id', '')}".encode()


def fuzzed(workdir: Path, runs: int) -> list[Hostile]:
    """The atheris harness's corpus after `runs` inputs (seeded, so the same each time), as records."""
    corpus = workdir / "corpus"
    corpus.mkdir()
    done = subprocess.run(
        [sys.executable, str(HARNESS), f"-runs={runs}", "-max_len=4096", "-seed=2026", str(corpus)],
        capture_output=True, text=True, timeout=240, cwd=workdir, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    made = []
    for path in sorted(corpus.iterdir()):
        if (record := record_of(path.read_bytes())) is not None:
            kind, owner, key, value = record
            if key is None and (value is None or kind in ("cameras", "consent")):
                key = b""  # Kafka refuses these itself
            made.append(Hostile(kind, owner, key, value))
    return made


def generated(count: int) -> list[Hostile]:
    made: list[Hostile] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(hostile())
    def collect(one: Hostile) -> None:
        made.append(one)

    collect()
    return made


# Issue 14's attacks, whatever hypothesis draws: beta enrolls its own face as acme's customer, withdraws
# and deletes acme's consents; a tenant the keyring has no keys for withdraws and deletes (erased all the same).
ACME = WORLD.consents[2]
EXPLICIT = [
    Hostile("enroll", "beta", f"acme/{ACME.subject_id}".encode(),
            CODEC.encode(WORLD.enrollments[2].model_copy(update={"template": b"\x01" * 2048})), True, b"\x01" * 2048),
    Hostile("consent", "beta", f"acme/{ACME.subject_id}".encode(),
            CODEC.encode(ACME.model_copy(update={"status": ConsentStatus.WITHDRAWN, "withdrawn_at": ACME.granted_at})),
            True),
    Hostile("consent", "beta", f"acme/{ACME.subject_id}".encode(), None, True),
    Hostile("consent", UNPROVISIONED, f"{UNPROVISIONED}/s1".encode(), None),
    Hostile("consent", UNPROVISIONED, f"{UNPROVISIONED}/s2".encode(), CODEC.encode(ACME.model_copy(update={
        "tenant_id": UNPROVISIONED, "subject_id": "s2", "status": ConsentStatus.WITHDRAWN,
        "withdrawn_at": ACME.granted_at}))),
]  # fmt: skip


async def _send(d: Deployment, hostile: list[Hostile], items: list[Capture]) -> dict[int, tuple[str, int, int]]:
    """The hostile records and the real traffic, interleaved; where each hostile record landed."""
    landed: dict[int, tuple[str, int, int]] = {}
    raw = AIOKafkaProducer(bootstrap_servers=d.kafka.bootstrap_servers, max_request_size=4 << 20, acks="all")
    await raw.start()
    try:
        async with FaceGateProducer(d.settings) as producer:
            step = max(1, len(items) // max(1, len(hostile)))
            rng = random.Random(14)
            order = list(range(len(hostile)))
            rng.shuffle(order)
            for n, index in enumerate(order):
                one = hostile[index]
                meta = await raw.send_and_wait(one.topic(d), one.value, key=one.key)
                landed[index] = (meta.topic, meta.partition, meta.offset)
                for item in items[n * step : (n + 1) * step]:
                    await send_capture(producer, item)
            for item in items[len(order) * step :]:
                await send_capture(producer, item)
    finally:
        await raw.stop()
    return landed


def _acknowledged(d: Deployment, topics: list[str]) -> Callable[[], bool]:
    """Whether the worker's group has committed every input topic to its end: every record decided."""
    config = {"bootstrap_servers": d.kafka.bootstrap_servers}

    def check() -> bool:
        committed = asyncio.run(committed_offsets(config, d.env["FACEGATE_APP_ID"]))
        ends = {(t, p): end for t in topics for p, end in asyncio.run(offset_range(config, t))[1].items()}
        return all(committed.get(where, 0) >= end for where, end in ends.items() if end)

    return check


def test_hostile_records_on_every_input_topic_stop_nothing(kafka: KafkaBroker, unique: Unique, tmp_path: Path) -> None:
    d = Deployment(kafka, unique, tmp_path, world=WORLD,
                   extra_env={"FACEGATE_TENANTS": f'["acme", "beta", "{UNPROVISIONED}"]'})  # fmt: skip
    ensure_gateway_topics(d.settings, [UNPROVISIONED])
    hostile = EXPLICIT + generated(320) + fuzzed(tmp_path, 5000)
    assert {h.kind for h in hostile} == {"cameras", "consent", "enroll", "share.requests", "faces.raw"}
    assert {h.owner for h in hostile} >= {*TENANTS, UNPROVISIONED, *WORLD.vendors}
    worker = d.start_worker()
    asyncio.run(d.publish_world(worker))
    pid = worker.process.pid
    items = Traffic(WORLD, seed=15).take(400)
    landed = asyncio.run(_send(d, hostile, items))

    # Every real capture decided, as the rules require: nothing hostile changed what they depend on.
    captures = [i for i in items if i.capture is not None]
    audits: dict[str, AuditRecord] = {}
    wanted = {i.capture.event_id for i in captures if i.capture is not None}
    for audit in d.audits(lambda got: wanted <= {a.event_id for a in got}, 180):
        audits.setdefault(audit.event_id, audit)
    for item in captures:
        assert item.capture is not None
        decided = audits[item.capture.event_id]
        assert decided.decision is item.expected.decision, (item.kind, decided.reason_codes)

    # Every record on every input topic acknowledged, i.e. decided (acks.py), by the same process.
    inputs = [t for tenant in (*TENANTS, UNPROVISIONED) for t in d.names.tenant_inputs(tenant)] + d.capture_topics
    eventually(_acknowledged(d, inputs), timeout=120, what="every input topic committed to its end")
    assert worker.running() and worker.process.pid == pid, "the worker never exited"

    # Each record that speaks for another tenant than its topic's: REJECTED, with its reason, audited.
    audits = {a.event_id: a for a in d.audits(lambda got: True, 60)}
    dead = {(r.source_topic, r.source_partition, r.source_offset): r for r in (
        CODEC.decode(x.value or b"", RejectedEvent) for x in d.read(d.names.rejected, timeout=120))}  # fmt: skip
    foreign = [landed[n] for n, h in enumerate(hostile) if h.speaks_for_another]
    reasons: list[str] = []
    for topic, partition, offset in foreign:
        event_id = undecodable_event_id(topic, partition, offset)
        assert event_id in audits, (topic, offset)
        assert audits[event_id].decision is Decision.REJECTED, audits[event_id]
        reasons.append(audits[event_id].reason_codes[0])
        assert dead[(topic, partition, offset)].reason_code == reasons[-1]
    # Refused for speaking for another, or before that for not being a valid record at all.
    mismatches = [r for r in reasons if r in ("TENANT_MISMATCH", "KEY_MISMATCH", "BAD_KEY")]
    assert all(r in mismatches or r.startswith("DECODE_") for r in reasons), reasons
    assert len(mismatches) >= 20 and "TENANT_MISMATCH" in mismatches, reasons
    # The tenant without keys: its records are decided, and its withdrawal and deletion erase (an
    # erasure never waits on keys; it is told nothing, having none to be named under), and no
    # record of anyone's reached a bug (the worker would reject it as INTERNAL_ERROR and count it).
    unprovisioned = [a for a in audits.values() if a.tenant_id == UNPROVISIONED]
    erased = [a for a in unprovisioned if a.decision is Decision.ERASED]
    assert len(erased) >= 2 and all(a.reason_codes == ["WITHDRAWN"] for a in erased), unprovisioned
    assert not [a.reason_codes for a in audits.values() if "INTERNAL_ERROR" in a.reason_codes]

    # No hostile template anywhere but the raw inputs: not in dead letters, audit records or the log.
    blobs = {
        "dead letters": b"".join(r.value or b"" for r in d.read(d.names.rejected, timeout=60)),
        "audit": b"".join(r.value or b"" for r in d.read(d.names.audit, timeout=60)),
        "worker log": worker.process.log_path.read_bytes(),
    }
    templates = [h.template for h in hostile if h.template is not None and len(set(h.template)) > 8]
    assert len(templates) >= 10
    assert [(n, where) for n, t in enumerate(templates) for where, blob in blobs.items() if t in blob] == []
    assert worker.stop() == 0


HEADER_KEY = not_utf8(64 * 1024)  # long, so that its bytes would show in any log that held them


def _decided_as_expected(d: Deployment, worker: LocalWorker, items: list[Capture]) -> None:
    """Wait until every capture of `items` has its decision (failing at once if the worker exits),
    and check each is what the rules require."""
    wanted = {i.capture.event_id for i in items if i.capture is not None}

    def done(got: list[AuditRecord]) -> bool:
        assert worker.running(), f"the worker exited\n{worker.log_tail()}"
        return wanted <= {a.event_id for a in got}

    audits = {a.event_id: a for a in d.audits(done, 120)}
    for item in items:
        assert item.capture is not None
        decided = audits[item.capture.event_id]
        assert decided.decision is item.expected.decision, (item.kind, decided.reason_codes)


def _moved(item: Capture, camera_id: str, to: str) -> Capture:
    """The capture as if taken by camera `to` (registered as `camera_id` is) when `camera_id` took it."""
    if item.capture is None or item.capture.camera_id != camera_id:
        return item
    return replace(item, capture=item.capture.model_copy(update={"camera_id": to}))


def test_a_header_key_that_is_not_utf8_stops_nothing(kafka: KafkaBroker, unique: Unique, tmp_path: Path) -> None:
    """A capture and a camera registration whose header key is not UTF-8: the worker decides the
    capture as the rules require and goes on deciding, a worker started afterwards reads the
    camera topic from its beginning, applies the registration and decides, and the header's bytes
    are in no log."""
    d = Deployment(kafka, unique, tmp_path, world=WORLD)
    first = d.start_worker()
    asyncio.run(d.publish_world(first))
    pid = first.process.pid
    servers = kafka.bootstrap_servers
    items = [i for i in Traffic(WORLD, seed=16).take(80) if i.capture is not None]
    hostile, capture = items[0], items[0].capture
    assert capture is not None
    # A camera only this registration registers: were it skipped, its captures would be CAMERA_UNKNOWN.
    entrance = WORLD.camera("acme", "entrance")
    camera = entrance.model_copy(update={"camera_id": "acme-entrance-2"})
    cameras = d.names.cameras("acme")
    asyncio.run(send_with_header_key(servers, d.names.captures(hostile.vendor), capture.event_id.encode(),
                                     CODEC.encode(capture), HEADER_KEY))  # fmt: skip
    asyncio.run(send_with_header_key(servers, cameras, camera.camera_id.encode(), CODEC.encode(camera), HEADER_KEY))
    asyncio.run(d.send(items[1:]))
    _decided_as_expected(d, first, items)
    assert first.process.pid == pid
    first.wait_until(lambda: first.get("/readyz")[0] == 200, 30, "the first worker ready (its feeds read on)")

    second = d.start_worker()  # ready only once its feeds have read every registry topic to its end
    assert first.stop() == 0  # the second takes every partition over
    later = [_moved(i, entrance.camera_id, camera.camera_id) for i in Traffic(WORLD, seed=17).take(60) if i.capture]
    assert sum(i.capture is not None and i.capture.camera_id == camera.camera_id for i in later) >= 5
    asyncio.run(d.send(later))
    _decided_as_expected(d, second, later)

    logs = {"first": first.process.log_path.read_bytes(), "second": second.process.log_path.read_bytes()}
    said = b"with a header key that is not UTF-8"
    assert f"{d.names.captures(hostile.vendor)}[".encode() in logs["first"] and said in logs["first"]
    assert all(f"{cameras}[".encode() in log and said in log for log in logs.values())
    for log in logs.values():
        assert HEADER_KEY[:8] not in log and b"\\xff\\xfe" not in log and "\ufffd".encode() not in log
    assert second.stop() == 0
