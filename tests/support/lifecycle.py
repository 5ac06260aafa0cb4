"""A small gateway state for lifecycle tests: two tenants under PIPL, one agreement between them."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

from gateway.contract.models import AuditRecord, ConsentRecord, Enrollment, ShareRequest
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.sharing import share
from gateway.core.messages import BatchResult, InputRecord, Output
from gateway.core.policy.tenant import (
    EffectivePolicy,
    ImpactAssessment,
    SharingAgreement,
    TenantPolicy,
)
from gateway.core.state import GatewayState, consent_key
from gateway.files.calibrations import shipped
from gateway.files.policies import policy_of
from gateway.keyring import Keyring
from tests.support.core import CODEC, NAMES, NOW, context, key_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VISIT = Purpose.REPEAT_VISITOR_RECOGNITION
POPULATION = Population.create(SYNTHETIC_512, 50, 7)
AGREEMENT = SharingAgreement(
    id="AGR-7", recipient_tenant_id="partner", purposes=frozenset({VISIT}), regions=frozenset({"CN", "SG"}),
    impact_assessment_reference="PIA-2026-11",
)  # fmt: skip


def policy_for(
    tenant: str, pack: str = "pipl-cn", agreements: tuple[SharingAgreement, ...] = (), **extra: object
) -> EffectivePolicy:
    return policy_of(
        TenantPolicy.model_validate(
            {
                "tenant_id": tenant, "pack": pack,
                "impact_assessment": ImpactAssessment(reference="PIA-1", dated=date(2025, 1, 1)),
                "notice_versions": frozenset({"notice-v1"}), "sharing_agreements": agreements, **extra,
            }
        )
    )  # fmt: skip


def new_state() -> GatewayState:
    keyring = Keyring.model_validate({"development_master": hashlib.sha256(b"lifecycle").digest()})
    state = GatewayState(keyring=keyring, calibrations=shipped())
    state.policies = {"acme": policy_for("acme", agreements=(AGREEMENT,)), "partner": policy_for("partner")}
    return state


def consent(subject: str = "s1", **changes: object) -> ConsentRecord:
    fields: dict[str, object] = dict(
        tenant_id="acme", subject_id=subject, status=ConsentStatus.GRANTED, purposes=[VISIT], separate=True,
        method=ConsentMethod.WRITTEN, notice_version="notice-v1", granted_at=T0, recipients=["partner"],
    )  # fmt: skip
    return ConsentRecord.model_validate({**fields, **changes})


def give(state: GatewayState, record: ConsentRecord) -> None:
    state.apply_consent(record.tenant_id, consent_key(record.tenant_id, record.subject_id), CODEC.encode(record))


def enrollment(subject: str = "s1", person: int = 0, tenant: str = "acme") -> Enrollment:
    template = to_bytes(POPULATION.captures([person], stream=0, noise=0.3)[0])
    return Enrollment(tenant_id=tenant, subject_id=subject, template=template, template_model=SYNTHETIC_512.name)


def record(topic: str, value: bytes | None, offset: int = 0, partition: int = 0, at: datetime = NOW) -> InputRecord:
    """On `topic`, keyed as its producer would key it, appended by the broker `at` (NOW)."""
    return InputRecord(topic, partition, offset, value, int(at.timestamp() * 1000), key_of(value))


def apply(state: GatewayState, result: BatchResult) -> None:
    """What the feeds would do with the step's outputs on the enrolled topic."""
    for output in result.outputs:
        if output.topic == NAMES.enrolled:
            state.apply_enrollment(output.key.decode(), output.value)


def on(result: BatchResult, topic: str) -> list[Output]:
    return [o for o in result.outputs if o.topic == topic]


def enrolled(state: GatewayState, subject: str = "s1", **consent_changes: object) -> GatewayState:
    """A subject with a consent and an accepted enrollment, as the worker's feeds would hold them."""
    give(state, consent(subject, **consent_changes))
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment(subject))), s)
    apply(state, s.result)
    assert f"acme/{subject}" in state.enrollments
    return state


def share_request(**changes: object) -> ShareRequest:
    fields: dict[str, object] = dict(
        request_id="req-1", tenant_id="acme", subject_id="s1", recipient_tenant_id="partner",
        recipient_region="CN", purpose=VISIT, agreement_id="AGR-7", requested_at=NOW,
    )  # fmt: skip
    return ShareRequest.model_validate({**fields, **changes})


def decide_share(state: GatewayState, req: ShareRequest, now: datetime = NOW) -> tuple[AuditRecord, BatchResult]:
    s = context(state, now=now)
    share(record(NAMES.share_requests("acme"), CODEC.encode(req), at=now), s)
    [audit] = on(s.result, NAMES.audit)
    return CODEC.decode(audit.value or b"", AuditRecord), s.result


def revoke_protection(state: GatewayState, tenant: str, after: datetime) -> None:
    """The tenant rotates its protection key, the version before revoked from `after` on."""
    keys = state.keyring.tenants[tenant]
    rotated = keys.protection.rotated(revoke_previous_after=after)
    state.keyring = state.keyring.model_copy(
        update={"tenants": {**state.keyring.tenants, tenant: keys.model_copy(update={"protection": rotated})}}
    )
