"""Sharing with another company (R09, R13): allowed only if the subject's consent names the
recipient for that purpose, the sender's policy holds an agreement for it (with an impact
assessment where the pack demands one), and the recipient's region is agreed and, when it lies
outside the pack's regions, covered by a transfer mechanism and a separate consent.

An allowed share sends the recipient its own pseudonym and its own protected template, made at
enrollment with the recipient's key: nothing links them to the sender's (measured by D_sys).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.contract.codec import DecodeError
from gateway.contract.models import SharedSubject, ShareRequest
from gateway.contract.topics import check_tenant_id
from gateway.contract.vocabulary import Decision
from gateway.core.consent import ConsentHistory, check_consent, consent_ref
from gateway.core.context import UNDECIDABLE, Context, Decided
from gateway.core.messages import InputRecord, Output
from gateway.core.policy.decision import PROTECT, consent_terms
from gateway.core.policy.outcome import Outcome, Refusal, merged
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from gateway.core.policy.tenant import EffectivePolicy, SharingAgreement
from gateway.core.records import audit_id, codes, share_event_id
from gateway.core.state import EnrollmentEntry, RecipientTemplate, consent_key
from gateway.keyring import Keyring


def share(record: InputRecord, ctx: Context) -> None:
    state = ctx.state
    try:
        request = state.codec.decode(record.value or b"", ShareRequest)
        check_tenant_id(request.recipient_tenant_id)
    except DecodeError as exc:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.undecodable(exc.code)), exc.detail)
        return
    except ValueError:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.BAD_RECIPIENT), "recipient_tenant_id is not a valid tenant id")
        return
    tenant_id, subject_id, recipient = request.tenant_id, request.subject_id, request.recipient_tenant_id
    if not ctx.keyed_by(record, tenant_id, subject_id):
        return
    # The subject by its regulator pseudonym (keyed): the share id reaches the recipient, which must
    # not confirm a guess of the sender's subject ids (and request ids, often counted) from it.
    event_id = share_event_id(
        tenant_id, request.request_id, state.regulator_pseudonym(tenant_id, subject_id), recipient
    )
    if ctx.seen(record.partition, tenant_id, event_id):  # decided and shared already: nothing again
        ctx.result.duplicates += 1
        return
    history = state.consent(tenant_id, subject_id)
    reference = consent_ref(history.current) if history is not None else None
    policy = state.policy(tenant_id)
    entry = state.enrollments.get(consent_key(tenant_id, subject_id))
    checked = check_share(request, policy, history, entry, ctx.now, state.keyring)
    if ctx.feeds_behind and not isinstance(checked, Refusal):  # a withdrawal may be unread yet: fail closed
        checked = Refusal((Rule.SEPARATE_CONSENT, Rule.TEMPLATE_PROTECTION), Reason.FEEDS_BEHIND)
    if isinstance(checked, Refusal):
        outcome = Outcome(
            Decision.SHARE_BLOCKED,
            merged(checked.rules, (Rule.CROSS_COMPANY,)),
            (checked.reason,),
            consent_ref=reference,
        )
    else:
        assert policy is not None and entry is not None  # check_share passed, so both exist
        agreement, template, rules = checked.agreement, checked.template, checked.rule_ids
        shared = SharedSubject(
            share_id="s-" + event_id.split(":", 1)[1],
            audit_id=audit_id(tenant_id, event_id),
            sender_tenant_id=tenant_id,
            recipient_tenant_id=recipient,
            pseudonym=state.recipient_pseudonym(recipient, tenant_id, subject_id),
            protected_template=template.code,
            template_model=entry.template_model,
            template_key_version=template.key_version,
            purpose=request.purpose,
            agreement_id=agreement.id,
            rule_ids=codes(rules),
            policy_version=policy.version,
            shared_at=ctx.now,
        )
        ctx.emit(Output(ctx.names.governed(recipient), shared.share_id.encode(), state.codec.encode(shared)))
        outcome = Outcome(Decision.SHARED, rules, (), consent_ref=reference)
    decided = Decided(
        event_id, tenant_id, outcome, subject_id=subject_id, purpose=request.purpose, recipient_tenant_id=recipient
    )
    ctx.decide(decided, record.partition)


@dataclass(frozen=True)
class Allowed:
    agreement: SharingAgreement
    template: RecipientTemplate
    rule_ids: tuple[Rule, ...]


def check_share(
    request: ShareRequest,
    policy: EffectivePolicy | None,
    history: ConsentHistory | None,
    entry: EnrollmentEntry | None,
    now: datetime,
    keyring: Keyring,
) -> Allowed | Refusal:
    """The first rule a share request fails, or what an allowed share needs."""
    recipient = request.recipient_tenant_id
    if policy is None:
        return Refusal((Rule.IMPACT_ASSESSMENT,), Reason.NO_TENANT_POLICY)
    if recipient == request.tenant_id:
        return Refusal((), Reason.RECIPIENT_IS_SENDER)
    if request.purpose in policy.forbidden_purposes:
        return Refusal((Rule.PURPOSE_LOCK, Rule.NO_SALE), Reason.PURPOSE_FORBIDDEN)
    grounds = policy.pack.disclosure_bases
    if grounds is not None and request.disclosure_basis not in grounds:  # e.g. Tex. Bus. & Com. Code 503.001(c)(1)
        return Refusal((Rule.NO_SALE,), Reason.DISCLOSURE_BASIS_MISSING)
    check = check_consent(history, request.purpose, now, now=now, terms=consent_terms(policy), minor=False)
    if isinstance(check, Refusal):
        return check
    assert history is not None  # a valid consent has a history
    consent = history.current
    if recipient not in consent.recipients:
        return Refusal((), Reason.RECIPIENT_NOT_CONSENTED)
    agreement = policy.tenant.agreement_with(recipient, request.purpose)
    if agreement is None or request.agreement_id not in (None, agreement.id):
        return Refusal((), Reason.NO_AGREEMENT)
    if policy.pack.sharing_requires_impact_assessment and not agreement.impact_assessment_reference:
        return Refusal((Rule.IMPACT_ASSESSMENT,), Reason.NO_IMPACT_ASSESSMENT)
    if request.recipient_region not in agreement.regions:
        return Refusal((Rule.CROSS_BORDER,), Reason.REGION_NOT_AGREED)
    if request.recipient_region not in policy.pack.regions:
        if policy.pack.cross_border_requires_transfer_mechanism and not agreement.transfer_mechanism:
            return Refusal((Rule.CROSS_BORDER,), Reason.NO_TRANSFER_MECHANISM)
        if not consent.separate:
            return Refusal((Rule.CROSS_BORDER,), Reason.CROSS_BORDER_CONSENT_NOT_SEPARATE)
    if entry is None:
        return Refusal(PROTECT, Reason.NOT_ENROLLED)
    if not entry.current:  # protected under a calibration this gateway no longer uses
        return Refusal(PROTECT, Reason.CALIBRATION_CHANGED)
    # Due for erasure, which the next sweep does: until then nothing may use the template either.
    if policy.retention.outlived(entry.enrolled_at, now):
        return Refusal((Rule.RETENTION, *PROTECT), Reason.RETENTION)
    if keyring.protection_revoked(request.tenant_id, entry.key_version, now):
        return Refusal(PROTECT, Reason.KEY_REVOKED)
    template = entry.recipients.get(recipient)
    # None: the consent named the recipient only after enrollment. Revoked: the recipient rotated
    # its protection key past a cutoff (its protected set leaked, say); nothing under the old
    # version goes out again. Either way the subject is re-enrolled to share.
    if template is None or keyring.protection_revoked(recipient, template.key_version, now):
        return Refusal(PROTECT, Reason.RECIPIENT_TEMPLATE_MISSING)
    return Allowed(agreement, template, merged(PROTECT, (Rule.CROSS_COMPANY, Rule.CROSS_BORDER), check.rules))
