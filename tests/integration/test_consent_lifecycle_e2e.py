"""Consent lifecycle on Apache Kafka: enrollment needs consent, withdrawal erases everywhere at
once, expiry is swept, sharing passes only what the rules allow, and the cleaner removes an
erased template from the compacted topic."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.cli import app
from gateway.contract.models import (
    AuditRecord,
    ConsentRecord,
    EnrolledTemplate,
    Enrollment,
    ErasureNotice,
    FaceCaptured,
    GovernedFace,
    SharedSubject,
    ShareRequest,
)  # fmt: skip
from gateway.contract.vocabulary import Decision, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.kafka.provisioning import admin_client
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import GOOD_CAPTURE_NOISE
from gateway.shell.local import LocalWorker
from tests.support.deployment import CODEC, Deployment
from tests.support.kafka import Unique, eventually

pytestmark = pytest.mark.kafka
VISIT = Purpose.REPEAT_VISITOR_RECOGNITION
ACME_POLICY = """
tenant_id: acme
revision: e2e
impact_assessment: {reference: PIA-E2E, dated: 2025-01-01}
notice_versions: [notice-v1]
alternative_method_offered: true
sharing_agreements:
  - id: AGR-1
    recipient_tenant_id: beta
    purposes: [REPEAT_VISITOR_RECOGNITION]
    regions: [CN]
    impact_assessment_reference: PIA-SHARE-1
"""


@pytest.fixture
def deployment(kafka: KafkaBroker, unique: Unique, tmp_path: Path) -> Iterator[tuple[Deployment, LocalWorker]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "acme.yaml").write_text(ACME_POLICY)
    d = Deployment(
        kafka, unique, tmp_path,
        extra_env={"FACEGATE_POLICY_DIR": str(policies), "FACEGATE_SWEEP_INTERVAL_MS": "300"},
    )  # fmt: skip
    # Aggressive cleaner settings, so compaction is seen within the test.
    with admin_client(d.settings) as admin:
        admin.alter_configs([
            ConfigResource(ConfigResourceType.TOPIC, d.names.enrolled, configs={
                "cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "200",
                "min.cleanable.dirty.ratio": "0.001", "delete.retention.ms": "0",
            })
        ])  # fmt: skip
    worker = d.start_worker()
    asyncio.run(d.publish_world(worker))
    try:
        yield d, worker
    finally:
        d.stop_all()


def consent_of(d: Deployment, subject: str) -> ConsentRecord:
    return next(c for c in d.world.consents if c.subject_id == subject)


def capture_of(d: Deployment, subject: str, n: int) -> FaceCaptured:
    person = d.world.person_of[("acme", subject)]
    face = d.world.population.captures([person], stream=5000 + n, noise=GOOD_CAPTURE_NOISE)[0]
    return FaceCaptured(
        event_id=f"lifecycle-{subject}-{n}", camera_id="acme-entrance", tenant_id="acme",
        captured_at=datetime.now(UTC), purpose=VISIT, template=to_bytes(face), template_model="synthetic-512",
        quality=0.95, occlusion="NONE", age_estimate=30,
    )  # fmt: skip


async def send(d: Deployment, *records: object) -> None:
    async with FaceGateProducer(d.settings) as producer:
        for r in records:
            if isinstance(r, FaceCaptured):  # from the vendor its camera is registered to
                camera = next(c for c in d.world.cameras if (c.tenant_id, c.camera_id) == (r.tenant_id, r.camera_id))
                await producer.capture(r, vendor_id=camera.vendor_id)
            elif isinstance(r, ConsentRecord):
                await producer.record_consent(r)
            elif isinstance(r, Enrollment):
                await producer.enroll(r)
            elif isinstance(r, ShareRequest):
                await producer.request_share(r)


def decision_of(d: Deployment, event_id: str) -> AuditRecord:
    [found] = [a for a in d.audits(lambda a: any(x.event_id == event_id for x in a)) if a.event_id == event_id]
    return found


def test_withdrawal_erases_the_enrollment_notifies_the_tenant_and_strips_later_captures(
    deployment: tuple[Deployment, LocalWorker],
) -> None:
    d, worker = deployment
    subject = "acme-customer-004"
    enrolled_before = d.read(d.names.enrolled)
    [stored] = [r for r in enrolled_before if r.key == f"acme/{subject}".encode() and r.value]
    code = CODEC.decode(stored.value, EnrolledTemplate).code

    before = capture_of(d, subject, 1)
    asyncio.run(send(d, before))
    assert decision_of(d, before.event_id).decision is Decision.FORWARDED
    governed = [
        CODEC.decode(r.value or b"", GovernedFace)
        for r in d.read(d.names.governed("acme"))
        if r.key == before.event_id.encode()
    ]
    pseudonym = governed[0].pseudonym

    withdrawn_at = datetime.now(UTC)

    async def withdraw() -> None:
        async with FaceGateProducer(d.settings) as producer:
            await producer.withdraw_consent(consent_of(d, subject), withdrawn_at)

    asyncio.run(withdraw())
    erased = d.audits(lambda a: any(x.decision is Decision.ERASED for x in a))
    assert [x.rule_ids for x in erased if x.decision is Decision.ERASED] == [["R10"]]
    notices = [CODEC.decode(r.value or b"", ErasureNotice) for r in d.read(d.names.erasure("acme"))]
    assert [(n.pseudonym, n.reason_code) for n in notices] == [(pseudonym, "WITHDRAWN")]
    worker.wait_until(
        lambda: worker.metric("facegate_enrolled_subjects", tenant="acme") == 19, 30, "enrollment dropped"
    )

    after = capture_of(d, subject, 2)
    asyncio.run(send(d, after))
    stripped = decision_of(d, after.event_id)
    assert stripped.decision is Decision.STRIPPED and stripped.subject_pseudonym is None

    # The cleaner removes the protected template once a newer segment holds the tombstone; fresh
    # enrollments of the other subjects (on every partition) roll the segments.
    others = [e for e in d.world.enrollments if e.tenant_id == "acme" and e.subject_id != subject]
    deadline = time.monotonic() + 90
    while True:
        asyncio.run(send(d, *others))
        values = [r.value or b"" for r in d.read(d.names.enrolled)]
        if not any(code in v for v in values):
            break
        assert time.monotonic() < deadline, "the erased template is still on the compacted topic"
        time.sleep(0.5)  # poll interval: the cleaner looks every second
    assert code not in b"".join(values)


def test_expiry_is_swept_and_erased(deployment: tuple[Deployment, LocalWorker]) -> None:
    d, _ = deployment
    subject = "acme-customer-006"
    ends = datetime.now(UTC) + timedelta(seconds=2)
    asyncio.run(send(d, consent_of(d, subject).model_copy(update={"expires_at": ends})))
    erased = d.audits(lambda a: any(x.decision is Decision.ERASED for x in a), timeout=60)
    [record] = [x for x in erased if x.decision is Decision.ERASED]
    assert record.reason_codes == ["EXPIRED"] and record.rule_ids == ["R10", "R11"]
    assert record.recorded_at >= ends - timedelta(milliseconds=1)
    notices = [CODEC.decode(r.value or b"", ErasureNotice) for r in d.read(d.names.erasure("acme"))]
    assert [n.reason_code for n in notices] == ["EXPIRED"]


def test_enrollment_without_consent_is_refused_and_sharing_follows_the_rules(
    deployment: tuple[Deployment, LocalWorker],
) -> None:
    d, worker = deployment
    template = d.world.enrollments[0].template
    stranger = Enrollment(tenant_id="acme", subject_id="walk-in-1", template=template, template_model="synthetic-512")
    # A consent naming beta, then a fresh enrollment, which protects the template for beta as well.
    named = consent_of(d, "acme-customer-008").model_copy(update={"recipients": ["beta"]})
    again = next(e for e in d.world.enrollments if e.subject_id == "acme-customer-008")
    asyncio.run(send(d, stranger, named, again))

    refused = d.audits(lambda a: any(x.decision is Decision.BLOCKED for x in a))
    [r] = [x for x in refused if x.decision is Decision.BLOCKED]
    assert r.reason_codes == ["ENROLLMENT_REFUSED", "NO_CONSENT"] and r.rule_ids == ["R01"]
    enrolled = d.read(d.names.enrolled)
    assert not [x for x in enrolled if x.key == b"acme/walk-in-1"]
    assert template not in b"".join((x.value or b"") for x in enrolled)

    def has_beta_template() -> bool:
        return any(
            x.key == b"acme/acme-customer-008"
            and x.value
            and "beta" in {r.tenant_id for r in CODEC.decode(x.value, EnrolledTemplate).recipients}
            for x in d.read(d.names.enrolled)
        )

    worker.wait_until(has_beta_template, 30, "the enrollment protected for beta")

    def request(request_id: str, subject: str) -> ShareRequest:
        return ShareRequest(
            request_id=request_id, tenant_id="acme", subject_id=subject, recipient_tenant_id="beta",
            recipient_region="CN", purpose=VISIT, requested_at=datetime.now(UTC),
        )  # fmt: skip

    asyncio.run(send(d, request("share-ok", "acme-customer-008"), request("share-no", "acme-customer-009")))
    shares = d.audits(lambda a: sum(x.decision in (Decision.SHARED, Decision.SHARE_BLOCKED) for x in a) >= 2)
    by_decision = {x.decision: x for x in shares if x.recipient_tenant_id == "beta"}
    assert by_decision[Decision.SHARE_BLOCKED].reason_codes == ["RECIPIENT_NOT_CONSENTED"]
    assert "R09" in by_decision[Decision.SHARED].rule_ids
    [shared] = [
        CODEC.decode(x.value or b"", SharedSubject)
        for x in d.read(d.names.governed("beta"))
        if isinstance(CODEC.decode_any(x.value or b""), SharedSubject)
    ]
    assert shared.sender_tenant_id == "acme" and shared.protected_template and shared.agreement_id == "AGR-1"
    assert not any(r.key == b"share-no" for r in d.read(d.names.governed("beta")))

    # Withdrawal reaches the company the data was shared with, under the name it knows.
    async def withdraw() -> None:
        async with FaceGateProducer(d.settings) as producer:
            await producer.withdraw_consent(named, datetime.now(UTC))

    asyncio.run(withdraw())
    notices = d.read(d.names.erasure("beta"), lambda records: len(records) >= 1)
    assert [CODEC.decode(r.value or b"", ErasureNotice).pseudonym for r in notices] == [shared.pseudonym]


def test_operators_and_subjects_see_consent_and_holdings_through_the_cli(
    deployment: tuple[Deployment, LocalWorker],
) -> None:
    d, _ = deployment
    runner = CliRunner()
    who = ["--tenant", "acme", "--subject", "acme-customer-010"]

    def cli(*args: str) -> str:
        result = runner.invoke(app, list(args), env=d.env)
        assert result.exit_code == 0, result.output
        return result.output

    capture = capture_of(d, "acme-customer-010", 1)
    asyncio.run(send(d, capture))
    assert decision_of(d, capture.event_id).decision is Decision.FORWARDED
    held = json.loads(cli("subject", "export", *who, "--format", "json"))
    assert held["enrollment"]["key_version"] == 1 and held["enrollment"]["template_model"] == "synthetic-512"
    life = {"CONSENT_RECORDED": 1, "ENROLLED": 1}  # the subject's consent and enrollment are audited too
    assert held["decisions"] == {**life, "FORWARDED": 1} and held["consent_history"][0]["status"] == "GRANTED"

    cli("consent", "withdraw", *who)
    d.audits(lambda a: any(x.decision is Decision.ERASED for x in a))
    shown = json.loads(cli("consent", "show", *who, "--format", "json"))
    assert [v["status"] for v in shown] == ["GRANTED", "WITHDRAWN"]

    def erased_everywhere() -> bool:
        now = json.loads(cli("subject", "export", *who, "--format", "json"))
        return now["enrollment"] is None and now["decisions"] == {**life, "ERASED": 1, "FORWARDED": 1}

    eventually(erased_everywhere, 30, "the export to show the erasure")
    text = cli("subject", "export", *who)
    stored = [CODEC.decode(r.value, EnrolledTemplate).code for r in d.read(d.names.enrolled) if r.value]
    assert "ERASED" in text and not any(
        form in text for code in stored for form in (base64.b64encode(code).decode(), code.hex())
    )
    assert runner.invoke(app, ["consent", "withdraw", *who], env=d.env).exit_code == 1  # nothing left to withdraw

    cli("consent", "grant", "--tenant", "acme", "--subject", "new-person", "--purpose", "REPEAT_VISITOR_RECOGNITION",
        "--notice", "notice-v1", "--recipient", "beta", "--expires-in-days", "30")  # fmt: skip
    [granted] = json.loads(cli("consent", "show", "--tenant", "acme", "--subject", "new-person", "--format", "json"))
    assert granted["recipients"] == ["beta"] and granted["separate"] and granted["expires_at"]


def _enrolled_of(worker: LocalWorker, tenant: str) -> float:
    """The worker's facegate_enrolled_subjects for `tenant` (0 when it no longer lists it)."""
    _, text = worker.get("/metrics")
    line = f'facegate_enrolled_subjects{{tenant="{tenant}"}} '
    return next((float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line)), 0.0)


def test_a_tenant_offboarded_with_consent_delete_all_leaves_no_template(
    deployment: tuple[Deployment, LocalWorker],
) -> None:
    # Removed from the settings without this, a tenant's templates stayed for good: no policy, no sweep.
    d, worker = deployment
    held = {e.subject_id for e in d.world.enrollments if e.tenant_id == "beta"}
    eventually(lambda: _enrolled_of(worker, "beta") == len(held) > 0, what="beta's gallery loaded")
    acme = _enrolled_of(worker, "acme")
    runner = CliRunner()
    result = runner.invoke(app, ["consent", "delete-all", "--tenant", "beta", "--yes"], env=d.env)
    assert result.exit_code == 0, result.output

    def erased(audits: list[AuditRecord]) -> int:
        return sum(a.decision is Decision.ERASED and a.tenant_id == "beta" for a in audits)

    audits = d.audits(lambda a: erased(a) >= len(held), timeout=120)
    assert all(a.rule_ids == ["R10"] for a in audits if a.decision is Decision.ERASED)
    eventually(lambda: _enrolled_of(worker, "beta") == 0, what="beta's templates gone from the worker")
    assert _enrolled_of(worker, "acme") == acme, "another tenant keeps its gallery"
    tombstoned = {r.key.decode().split("/", 1)[1] for r in d.read(d.names.enrolled) if r.key and r.value is None}
    assert held <= tombstoned
    again = runner.invoke(app, ["consent", "delete-all", "--tenant", "beta", "--yes"], env=d.env)
    assert again.exit_code == 1, again.output  # nothing left the workers could act on
