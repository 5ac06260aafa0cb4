"""An enrollment: a raw template from facegate.enroll is protected at once and kept only
protected (R08), and only with a consent that is valid now (R01-R03). A refusal is audited;
the raw template is never re-emitted, whatever happens.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.contract.codec import DecodeError
from gateway.contract.models import Enrollment
from gateway.contract.vocabulary import Decision
from gateway.core.biometrics.embeddings import TemplateError
from gateway.core.consent import check_consent, consent_ref
from gateway.core.lifecycle.step import Step
from gateway.core.messages import InputRecord, Output
from gateway.core.policy.decision import Outcome, consent_terms
from gateway.core.records import enrollment_event_id
from gateway.core.state import consent_key


def enroll(record: InputRecord, step: Step) -> None:
    state = step.state
    try:
        enrollment = state.codec.decode(record.value or b"", Enrollment)
    except DecodeError as exc:
        step.reject(record, f"DECODE_{exc.code}", exc.detail)
        return
    tenant_id, subject_id = enrollment.tenant_id, enrollment.subject_id
    event_id = enrollment_event_id(record.topic, record.partition, record.offset)

    def refuse(rules: tuple[str, ...], *reasons: str, reference: str | None = None) -> None:
        outcome = Outcome(Decision.BLOCKED, rules, ("ENROLLMENT_REFUSED", *reasons), consent_ref=reference)
        step.decide(event_id, tenant_id, outcome, subject_id=subject_id)

    policy = state.policy(tenant_id)
    if policy is None:
        refuse(("R12",), "NO_TENANT_POLICY")
        return
    history = state.consent(tenant_id, subject_id)
    check = check_consent(history, None, step.now, now=step.now, terms=consent_terms(policy), minor=False)
    reference = consent_ref(history.current) if history is not None else None
    if not check.valid or history is None:
        refuse(check.rule_ids, check.reason or "CONSENT_INVALID", reference=reference)
        return
    enrolled_at = enrollment.enrolled_at or _timestamp(record, step.now)
    try:
        protected = state.protect_enrollment(
            tenant_id, subject_id, enrollment.template, enrollment.template_model, enrolled_at,
            history.current.recipients,
        )  # fmt: skip
    except LookupError:
        refuse(("R08",), "MODEL_UNCALIBRATED", reference=reference)
        return
    except TemplateError:
        step.reject(record, "TEMPLATE_INVALID", "enrollment template is not a valid embedding for its model", tenant_id)
        return
    step.emit(Output(step.names.enrolled, consent_key(tenant_id, subject_id).encode(), protected.to_json()))


def _timestamp(record: InputRecord, fallback: datetime) -> datetime:
    return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC) if record.timestamp_ms > 0 else fallback
