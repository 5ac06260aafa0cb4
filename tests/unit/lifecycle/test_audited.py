"""Every lifecycle decision is audited, permit and deny alike: consent granted, narrowed,
withdrawn (with the method and the evidence reference the tenant supplied), enrolled, re-enrolled,
refused, erased, shared and share refused each leave an audit record with rule and reason."""

from __future__ import annotations

from datetime import timedelta

from gateway.contract.models import AuditRecord
from gateway.contract.vocabulary import ConsentStatus, Decision, Purpose
from gateway.core.lifecycle.dispatch import decide_lifecycle
from gateway.core.messages import InputRecord
from gateway.core.state import GatewayState
from tests.support.core import CODEC, NAMES, NOW, context
from tests.support.lifecycle import VISIT, apply, consent, enrollment, new_state, on


def decide(state: GatewayState, topic: str, value: bytes | None, offset: int, key: bytes = b"acme/s1") -> AuditRecord:
    ctx = context(state)
    decide_lifecycle(InputRecord(topic, 0, offset, value, int(NOW.timestamp() * 1000), key), ctx)
    apply(state, ctx.result)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]
    return audit


def test_a_subjects_life_is_in_the_audit() -> None:
    state = new_state()
    granted = consent("s1", purposes=[VISIT, Purpose.ACCESS_CONTROL], evidence_ref="form-2026-0042")
    first = decide(state, NAMES.consent("acme"), CODEC.encode(granted), 0)
    assert (first.decision, first.reason_codes, first.rule_ids) == (
        Decision.CONSENT_RECORDED,
        ["CONSENT_GRANTED"],
        ["R01"],
    )
    assert first.consent_method == "WRITTEN" and first.evidence_ref == "form-2026-0042" and first.subject_pseudonym

    enrolled = decide(state, NAMES.enroll("acme"), CODEC.encode(enrollment("s1")), 0)
    again = decide(state, NAMES.enroll("acme"), CODEC.encode(enrollment("s1", person=1)), 1)
    assert (enrolled.decision, enrolled.reason_codes) == (Decision.ENROLLED, ["ENROLLED"])
    assert (again.decision, again.reason_codes) == (Decision.ENROLLED, ["RE_ENROLLED"]), "the replacement is named"

    narrowed = granted.model_copy(update={"purposes": [VISIT], "evidence_ref": "form-2026-0043"})
    assert decide(state, NAMES.consent("acme"), CODEC.encode(narrowed), 1).reason_codes == ["CONSENT_NARROWED"]

    withdrawn = narrowed.model_copy(
        update={"status": ConsentStatus.WITHDRAWN, "withdrawn_at": NOW - timedelta(hours=1), "evidence_ref": "call-77"}
    )
    erased = decide(state, NAMES.consent("acme"), CODEC.encode(withdrawn), 2)
    assert (erased.decision, erased.reason_codes, erased.rule_ids) == (Decision.ERASED, ["WITHDRAWN"], ["R10"])
    assert erased.evidence_ref == "call-77" and erased.consent_method == "WRITTEN"

    regranted = granted.model_copy(update={"granted_at": NOW - timedelta(minutes=5), "evidence_ref": "form-2026-0099"})
    assert decide(state, NAMES.consent("acme"), CODEC.encode(regranted), 3).reason_codes == ["CONSENT_GRANTED"]

    refused = decide(state, NAMES.enroll("acme"), CODEC.encode(enrollment("nobody")), 4, b"acme/nobody")
    assert refused.decision is Decision.BLOCKED and refused.reason_codes[0] == "ENROLLMENT_REFUSED"
    assert len({a.audit_id for a in (first, enrolled, again, erased, refused)}) == 5
