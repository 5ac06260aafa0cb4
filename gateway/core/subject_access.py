"""What the gateway holds about one person, for their right of access (PIPL art. 45, GDPR art. 15).

Built from the consent versions still on the consent topic, the protected enrollment's latest
state and the audit records under the subject's regulator pseudonyms (each key version's). It
names what is held, and under which of the tenant's pseudonyms, counts decisions and names the
companies the subject was disclosed to (GDPR art. 15(1)(c)); it never contains a template,
protected or raw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.contract.models import AuditRecord, ConsentRecord, EnrolledTemplate
from gateway.contract.vocabulary import Decision


@dataclass(frozen=True)
class EnrollmentHeld:
    template_model: str
    key_version: int
    enrolled_at: str
    protected_for_recipients: list[str]


@dataclass
class SubjectReport:
    tenant_id: str
    subject_id: str
    tenant_pseudonym: str | None  # None: the keyring holds no pseudonym key for the tenant (offboarded)
    # What releases up to 0.3.0 called this subject, if its id holds a '/' (pseudonyms.tenant_pseudonym).
    former_tenant_pseudonym: str | None = None
    consent_history: list[dict[str, Any]] = field(default_factory=list)
    enrollment: EnrollmentHeld | None = None
    decisions: dict[str, int] = field(default_factory=dict)
    last_decision_at: str | None = None
    # Every name the tenant may hold the subject's data under (current first): one per key version.
    tenant_pseudonyms_held: list[dict[str, Any]] = field(default_factory=list)
    disclosed_to: list[dict[str, Any]] = field(default_factory=list)  # each share: recipient, when, purpose

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def subject_report(
    tenant_id: str,
    subject_id: str,
    consents: Iterable[ConsentRecord | None],
    enrolled: EnrolledTemplate | None,
    audits: Iterable[AuditRecord],
    tenant_pseudonyms: Sequence[tuple[int, str]],
    regulator_pseudonyms: Collection[str],
) -> SubjectReport:
    """`consents` in log order (None: the consent was deleted); `enrolled` the enrollment held, if
    any; `tenant_pseudonyms` (key version, pseudonym), the current first."""
    report = SubjectReport(tenant_id, subject_id, tenant_pseudonyms[0][1] if tenant_pseudonyms else None)
    report.tenant_pseudonyms_held = [{"key_version": v, "pseudonym": p} for v, p in tenant_pseudonyms]
    for consent in consents:
        if consent is None:
            report.consent_history.append({"status": "DELETED"})
        else:
            report.consent_history.append(consent.model_dump(mode="json", exclude={"tenant_id", "subject_id"}))
    if enrolled is not None:
        report.enrollment = EnrollmentHeld(
            enrolled.template_model,
            enrolled.key_version,
            enrolled.enrolled_at.isoformat(),
            sorted(r.tenant_id for r in enrolled.recipients),
        )
    # Once per audit id: a batch redone after a crash may have audited a decision again.
    mine = list(
        {
            a.audit_id: a for a in audits if a.tenant_id == tenant_id and a.subject_pseudonym in regulator_pseudonyms
        }.values()
    )
    report.decisions = dict(sorted(Counter(str(a.decision) for a in mine).items()))
    if mine:
        report.last_decision_at = max(a.recorded_at for a in mine).isoformat()
    report.disclosed_to = [
        {"recipient": a.recipient_tenant_id, "at": a.recorded_at.isoformat(), "purpose": str(a.purpose)}
        for a in mine
        if a.decision is Decision.SHARED
    ]
    return report
