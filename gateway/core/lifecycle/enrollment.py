"""An enrollment: a raw template from facegate.enroll is protected at once and kept only
protected (R08), and only with a consent that is valid now (R01-R03). A refusal is audited;
the raw template is never re-emitted, whatever happens.
"""

from __future__ import annotations

from datetime import datetime

from gateway.contract.codec import DecodeError
from gateway.contract.models import Enrollment
from gateway.contract.vocabulary import Decision, EnrollmentSource
from gateway.core.biometrics.embeddings import TemplateError
from gateway.core.consent import WITHDRAWN, check_consent, consent_ref, withdrawn_since
from gateway.core.context import UNDECIDABLE, Context, Decided
from gateway.core.messages import InputRecord, Output, broker_time
from gateway.core.policy.decision import PROTECT, consent_terms
from gateway.core.policy.outcome import Outcome, Refusal
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from gateway.core.records import enrollment_event_id
from gateway.core.state import consent_key
from gateway.keyring import MissingKeyError


def enroll(record: InputRecord, ctx: Context) -> None:
    state = ctx.state
    try:
        enrollment = state.codec.decode(record.value or b"", Enrollment)
    except DecodeError as exc:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.undecodable(exc.code)), exc.detail)
        return
    tenant_id, subject_id = enrollment.tenant_id, enrollment.subject_id
    if not ctx.keyed_by(record, tenant_id, subject_id):
        return
    event_id = enrollment_event_id(record.topic, record.partition, record.offset)

    def refuse(refusal: Refusal, reference: str | None = None) -> None:
        outcome = Outcome(
            Decision.BLOCKED, refusal.rules, (Reason.ENROLLMENT_REFUSED, refusal.reason), consent_ref=reference
        )
        ctx.decide(Decided(event_id, tenant_id, outcome, subject_id=subject_id), record.partition)

    policy = state.policy(tenant_id)
    if policy is None:
        refuse(Refusal((Rule.IMPACT_ASSESSMENT,), Reason.NO_TENANT_POLICY))
        return
    history = state.consent(tenant_id, subject_id)
    check = check_consent(history, None, ctx.now, now=ctx.now, terms=consent_terms(policy), minor=False)
    reference = consent_ref(history.current) if history is not None else None
    if isinstance(check, Refusal):
        refuse(check, reference)
        return
    assert history is not None  # a valid consent has a history
    # The broker's time, or the producer's if earlier: a later claim would postpone retention (R11).
    enrolled_at = min(filter(None, (enrollment.enrolled_at, _timestamp(record, ctx.now))))
    if withdrawn_since(history, enrolled_at):  # collected before a withdrawal: no later grant reaches back
        refuse(WITHDRAWN, reference)
        return
    forbidden = policy.pack.forbidden_enrollment_sources
    source = enrollment.source
    if source is EnrollmentSource.UNKNOWN or (forbidden and (source is None or source in forbidden)):
        refuse(Refusal((Rule.NO_SCRAPING,), Reason.SOURCE_FORBIDDEN), reference)  # R17: not stated counts as forbidden
        return
    # Protected for the companies the consent names that an agreement lets receive data: a name
    # alone would make templates for, and send erasure notices to, any company the tenant chose.
    recipients = [r for r in history.current.recipients if policy.tenant.agrees_with(r)]
    try:
        protected = state.protect_enrollment(
            tenant_id, subject_id, enrollment.template, enrollment.template_model, enrolled_at, recipients
        )
    except MissingKeyError:
        raise  # the tenant's own keys: TENANT_NOT_PROVISIONED (Context.decide_each)
    except LookupError:
        refuse(Refusal(PROTECT, Reason.MODEL_UNCALIBRATED), reference)
        return
    except TemplateError:
        invalid = Refusal(UNDECIDABLE, Reason.TEMPLATE_INVALID)
        ctx.reject(record, invalid, "enrollment template is not a valid embedding for its model", tenant_id=tenant_id)
        return
    key = consent_key(tenant_id, subject_id)
    ctx.emit(Output(ctx.names.enrolled, key.encode(), state.codec.encode(protected)))
    again = Reason.RE_ENROLLED if key in state.enrollments else Reason.ENROLLED
    # R15: the enrollment that brings the tenant's enrolled subjects to the filing threshold (CAC
    # measures art. 15: file within 30 working days from the day the count is reached).
    threshold = policy.pack.filing_threshold
    crosses = again is Reason.ENROLLED and threshold is not None and state.enrolled_count(tenant_id) + 1 == threshold
    outcome = Outcome(
        Decision.ENROLLED, (Rule.SEPARATE_CONSENT, Rule.TEMPLATE_PROTECTION), (again,),
        (Rule.FILING_THRESHOLD,) if crosses else (), consent_ref=reference,
    )  # fmt: skip
    ctx.decide(Decided(event_id, tenant_id, outcome, subject_id=subject_id, consent=history.current), record.partition)


def _timestamp(record: InputRecord, fallback: datetime) -> datetime:
    return broker_time(record.timestamp_ms) or fallback
