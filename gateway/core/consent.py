"""Is a consent valid for this capture?

Consent is judged at the capture's time: a consent given after a capture never legitimises it.
A withdrawal takes effect at once: once the ledger says WITHDRAWN, nothing is forwarded, even
for captures taken before. An expiry voids processing from that moment, whenever the capture was.
Each failure names the rule it breaks and a reason code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from gateway.contract.models import ConsentRecord
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose


@dataclass(frozen=True)
class ConsentCheck:
    valid: bool
    rule_ids: tuple[str, ...]
    reason: str | None = None


VALID = ConsentCheck(True, ("R01", "R02"))


def consent_ref(consent: ConsentRecord) -> str:
    """A reference to the exact consent record relied on, for the audit (a hash, not the record)."""
    return "c-" + hashlib.sha256(consent.model_dump_json().encode()).hexdigest()[:24]


def check_consent(
    consent: ConsentRecord | None,
    purpose: Purpose,
    at: datetime,
    *,
    now: datetime,
    notice_versions: frozenset[str],
    require_separate: bool,
    require_written: bool,
    minor: bool,
) -> ConsentCheck:
    """The first rule a consent fails for a capture of `purpose` at time `at`, or VALID."""
    if consent is None:
        return ConsentCheck(False, ("R01",), "NO_CONSENT")
    if consent.granted_at > at:
        return ConsentCheck(False, ("R01",), "CONSENT_AFTER_CAPTURE")
    if consent.status is ConsentStatus.WITHDRAWN:
        return ConsentCheck(False, ("R01", "R10"), "CONSENT_WITHDRAWN")
    if consent.expires_at is not None and consent.expires_at <= max(at, now):
        return ConsentCheck(False, ("R01", "R11"), "CONSENT_EXPIRED")
    if require_separate and not consent.separate:
        return ConsentCheck(False, ("R01",), "CONSENT_BUNDLED")
    if require_written and consent.method is not ConsentMethod.WRITTEN:
        return ConsentCheck(False, ("R01",), "CONSENT_NOT_WRITTEN")
    if purpose not in consent.purposes:
        return ConsentCheck(False, ("R01", "R06"), "PURPOSE_NOT_CONSENTED")
    if consent.notice_version not in notice_versions:
        return ConsentCheck(False, ("R02",), "NOTICE_UNKNOWN")
    if (minor or consent.minor) and not consent.guardian_consent:
        return ConsentCheck(False, ("R03",), "MINOR_WITHOUT_GUARDIAN")
    if minor or consent.minor:
        return ConsentCheck(True, ("R01", "R02", "R03"))
    return VALID
