"""Enrollment: protected at once, kept only protected, refused and audited without valid consent."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import numpy as np
import pytest

from gateway.contract.models import AuditRecord, EnrolledTemplate, Enrollment
from gateway.contract.vocabulary import ConsentStatus, Decision
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.erasure import due_erasures, on_consent
from gateway.core.policy.reasons import Reason
from gateway.core.records import audit_id
from gateway.core.state import GatewayState, decode_enrolled
from gateway.keyring import Keyring
from tests.support.core import CODEC, NAMES, NOW, context
from tests.support.lifecycle import T0, apply, consent, enrolled, enrollment, give, new_state, on, record


def test_a_consented_enrollment_is_stored_protected_for_the_tenant_and_each_named_recipient() -> None:
    state = new_state()
    give(state, consent())
    raw = enrollment()
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(raw)), s)
    [stored] = on(s.result, NAMES.enrolled)
    assert [o.topic for o in s.result.outputs] == [NAMES.enrolled, NAMES.audit], "only the protected form goes on"
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    assert (
        audit.decision is Decision.ENROLLED and audit.reason_codes == ["ENROLLED"] and audit.consent_method == "WRITTEN"
    )
    assert audit.subject_pseudonym == state.regulator_pseudonym("acme", "s1") and audit.consent_ref
    assert stored.key == b"acme/s1" and stored.value is not None
    protected = CODEC.decode(stored.value, EnrolledTemplate)  # a contract record, under the evolution gate
    [partner] = protected.recipients
    assert len(protected.code) == 128 and partner.tenant_id == "partner" and protected.code != partner.code
    assert raw.template not in stored.value and raw.template[:16] not in stored.value
    apply(state, s.result)
    assert state.enrolled_count("acme") == 1 and state.enrollments["acme/s1"].recipients.keys() == {"partner"}


@pytest.mark.parametrize(
    ("given", "reason", "rule"),
    [
        (None, "NO_CONSENT", "R01"),
        (consent(status=ConsentStatus.WITHDRAWN), "CONSENT_WITHDRAWN", "R10"),
        (consent(separate=False), "CONSENT_BUNDLED", "R01"),
        (consent(expires_at=NOW), "CONSENT_EXPIRED", "R11"),
        (consent(notice_version="unknown"), "NOTICE_UNKNOWN", "R02"),
        (consent(minor=True), "MINOR_WITHOUT_GUARDIAN", "R03"),
    ],
)
def test_an_enrollment_without_valid_consent_is_refused_audited_and_not_stored(
    given: object, reason: str, rule: str
) -> None:
    state = new_state()
    if given is not None:
        give(state, given)  # type: ignore[arg-type]
    raw = enrollment()
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(raw)), s)
    assert not on(s.result, NAMES.enrolled)
    [audit_out] = s.result.outputs
    assert audit_out.topic == NAMES.audit and audit_out.value is not None
    audit = CODEC.decode(audit_out.value, AuditRecord)
    assert audit.decision is Decision.BLOCKED and rule in audit.rule_ids
    assert audit.reason_codes == ["ENROLLMENT_REFUSED", reason]
    assert audit.subject_pseudonym and "s1" not in audit.model_dump_json()
    assert raw.template[:16] not in audit_out.value


def test_an_enrollment_collected_before_a_withdrawal_is_refused_after_a_new_grant() -> None:
    # Consent and enrollment come on topics of their own: after an outage the feed has read the
    # withdrawal and a new grant before the agent decides an enrollment the broker took before
    # them. The new grant does not reach back to it, as it does not to a capture (check_consent).
    collected, withdrawn, granted_again = (
        NOW - timedelta(minutes=50),
        NOW - timedelta(minutes=40),
        NOW - timedelta(minutes=30),
    )
    state = new_state()
    for offset, version in enumerate(
        (consent(), consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=withdrawn), consent(granted_at=granted_again))
    ):
        at = (T0, withdrawn, granted_again)[offset]
        state.apply_consent("acme", "acme/s1", CODEC.encode(version), 0, offset, int(at.timestamp() * 1000))
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment()), at=collected), s)
    assert not on(s.result, NAMES.enrolled)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    assert audit.decision is Decision.BLOCKED and audit.reason_codes == ["ENROLLMENT_REFUSED", "CONSENT_WITHDRAWN"]
    later = context(state)  # one the broker took after the new grant is enrolled
    enroll(
        record(NAMES.enroll("acme"), CODEC.encode(enrollment()), offset=1, at=granted_again + timedelta(minutes=1)),
        later,
    )
    assert on(later.result, NAMES.enrolled)


def test_a_refused_enrollment_already_audited_is_not_audited_twice() -> None:
    state = new_state()
    s = context(state, seen=frozenset({audit_id("acme", f"enrollment:{NAMES.enroll('acme')}:0:0")}))
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment())), s)
    assert not s.result.outputs and s.result.duplicates == 1


def test_malformed_enrollments_become_dead_letters_without_their_bytes() -> None:
    state = new_state()
    give(state, consent())
    nan = np.full(512, np.nan, dtype="<f4").tobytes()
    for offset, payload in enumerate(
        [
            b"not avro",
            CODEC.encode(Enrollment(tenant_id="acme", subject_id="s1", template=nan, template_model="synthetic-512")),
        ]
    ):
        s = context(state)
        enroll(record(NAMES.enroll("acme"), payload, offset), s)
        [dead] = on(s.result, NAMES.rejected)
        assert dead.value is not None and payload[:32] not in dead.value
        assert not on(s.result, NAMES.enrolled) and len(on(s.result, NAMES.audit)) == 1


def _degenerate_templates() -> list[bytes]:
    """A capture written big-endian (a Java SDK's default: its norm overflows float32), and, of a
    model whose population sits in one direction, templates in it at any length: all used to
    protect to the all-zero code."""
    face = np.full(512, 1 / np.sqrt(512), dtype=np.float32)  # its bytes swapped are finite, ~1e31
    return [face.astype(">f4").tobytes(), to_bytes(face * np.float32(3)), to_bytes(face * np.float32(1.00001))]


@pytest.mark.parametrize("template", _degenerate_templates())
def test_a_template_without_a_direction_of_its_own_is_refused_as_invalid(template: bytes) -> None:
    state = new_state()
    model = state.calibrations["synthetic-512"]
    state.calibrations["synthetic-512"] = model.model_copy(update={"mean": [1 / np.sqrt(512)] * 512})
    give(state, consent())
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment().model_copy(update={"template": template}))), s)
    audit = CODEC.decode(on(s.result, NAMES.audit)[0].value or b"", AuditRecord)
    assert "TEMPLATE_INVALID" in audit.reason_codes and not on(s.result, NAMES.enrolled)
    [dead] = on(s.result, NAMES.rejected)
    assert dead.value is not None and template[:32] not in dead.value


def test_an_uncalibrated_model_is_refused() -> None:
    state = new_state()
    give(state, consent())
    other = Enrollment(tenant_id="acme", subject_id="s1", template=b"\x00\x00\x80\x3f" * 8, template_model="vendor-x")
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(other)), s)
    audit = CODEC.decode(on(s.result, NAMES.audit)[0].value or b"", AuditRecord)
    assert audit.reason_codes == ["ENROLLMENT_REFUSED", "MODEL_UNCALIBRATED"] and not on(s.result, NAMES.enrolled)


def test_a_template_is_protected_only_for_named_companies_an_agreement_lets_receive_and_the_keyring_holds() -> None:
    """A consent may name any company; a template made for one without an agreement, or not
    provisioned, could never be shared, and each erasure would still send it a notice."""
    state = new_state()
    state.keyring = Keyring.generate(["acme", "partner", "victim"])
    give(state, consent(recipients=["partner", "victim", "unprovisioned"]))
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment())), s)
    [stored] = on(s.result, NAMES.enrolled)
    protected = CODEC.decode(stored.value or b"", EnrolledTemplate)
    assert [r.tenant_id for r in protected.recipients] == ["partner"] and not s.result.errors
    apply(state, s.result)
    withdrawal = consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW, recipients=["partner", "victim"])
    give(state, withdrawal)
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(withdrawal), 1), "acme/s1", s)
    assert on(s.result, NAMES.erasure("partner")) and not on(s.result, NAMES.erasure("victim"))


def test_an_enrollment_of_a_model_this_worker_has_no_calibration_for_is_kept_for_the_sweeps() -> None:
    """Its calibration removed, or the model retired: never matched, but its subject's expiry,
    retention and withdrawal still erase it (it was dropped, and kept on the topic for good)."""
    state = enrolled(new_state(), expires_at=NOW + timedelta(days=1))
    value = CODEC.encode(_stored(state))
    state.calibrations = {}
    state.apply_enrollment("acme/s1", None)
    state.apply_enrollment("acme/s1", value)
    assert "acme/s1" in state.enrollments and not state.enrollments["acme/s1"].current
    assert state.enrolled_count("acme") == 0 and state.needing_reenrollment() == {SYNTHETIC_512.name: 1}
    due = list(due_erasures(state, NOW + timedelta(days=30), lambda partition: True))
    assert [(d.subject_id, d.reason) for d in due] == [("s1", Reason.EXPIRED)]


def _stored(state: GatewayState) -> EnrolledTemplate:
    """What the enrolled topic holds for acme/s1, made again as the enrollment made it."""
    return state.protect_enrollment("acme", "s1", enrollment().template, SYNTHETIC_512.name, NOW, ["partner"])


def test_enrolled_values_written_before_0_2_are_still_read_during_a_rolling_upgrade() -> None:
    state = new_state()
    give(state, consent())
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment())), s)
    [stored] = on(s.result, NAMES.enrolled)
    held = CODEC.decode(stored.value or b"", EnrolledTemplate)
    legacy = json.dumps(  # exactly what a 0.1 worker wrote to the enrolled topic
        {
            "tenant_id": held.tenant_id, "subject_id": held.subject_id, "template_model": held.template_model,
            "key_version": held.key_version, "code": base64.b64encode(held.code).decode(),
            "enrolled_at": int(held.enrolled_at.timestamp() * 1000),
            "recipients": {r.tenant_id: {"key_version": r.key_version, "code": base64.b64encode(r.code).decode()}
                           for r in held.recipients},
        }
    ).encode()  # fmt: skip
    assert decode_enrolled(CODEC, legacy) == held.model_copy(update={"calibration_version": None})  # made under 1
    old, new = new_state(), new_state()
    old.apply_enrollment("acme/s1", legacy)
    new.apply_enrollment("acme/s1", stored.value)
    assert old.enrollments == new.enrollments and old.enrolled_count("acme") == 1
    old.apply_enrollment("acme/s2", b'{"tenant_id": "acme"}')  # neither form: counted, not applied
    assert old.ignored_records == 1 and old.enrolled_count("acme") == 1
