"""The decision for one capture (DESIGN.md), as pure functions.

`screen` runs the checks that need no identification (steps 3-6, 8); a capture that passes
them needs identification. The shell protects and searches such captures in batches, then
`conclude` decides from the best match and that subject's consent (step 7). Every outcome
names the rules that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from gateway.contract.models import CameraRegistration, FaceCaptured
from gateway.contract.vocabulary import Decision, LocationType, Occlusion, Purpose
from gateway.core.biometrics.calibration import Calibration
from gateway.core.biometrics.embeddings import TemplateError, Vectors, from_bytes
from gateway.core.biometrics.matching import Match
from gateway.core.consent import ConsentHistory, ConsentTerms, check_consent, consent_ref
from gateway.core.policy.tenant import EffectivePolicy

PUBLIC_PLACE_TYPES = frozenset({LocationType.PUBLIC_PLACE, LocationType.TRANSPORT_HUB})


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    rule_ids: tuple[str, ...]
    reason_codes: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    subject_id: str | None = field(default=None, repr=False)  # internal: never leaves the gateway
    consent_ref: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class Identify:
    """A capture that passed screening: identify it against the tenant's enrolled templates."""

    vector: Vectors = field(repr=False)
    masked: bool
    rule_ids: tuple[str, ...] = ()
    reason_codes: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()


def _merge(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({item for group in groups for item in group}))


def _finish(outcome: Outcome, capture: FaceCaptured) -> Outcome:
    """Step 8: the image never goes on (R07); say so wherever one came in."""
    if capture.image is None:
        return outcome
    return replace(
        outcome,
        rule_ids=_merge(outcome.rule_ids, ("R07",)),
        reason_codes=_merge(outcome.reason_codes, ("IMAGE_DISCARDED",)),
    )


def _ended(
    capture: FaceCaptured,
    decision: Decision,
    rules: tuple[str, ...],
    reason: str,
    alerts: tuple[str, ...] = (),
) -> Outcome:
    return _finish(Outcome(decision, _merge(rules), (reason,), _merge(alerts)), capture)


def screen(
    capture: FaceCaptured,
    camera: CameraRegistration | None,
    policy: EffectivePolicy | None,
    calibration: Calibration | None,
) -> Outcome | Identify:
    """Steps 3-6: registry, tenant, assessment, location, purpose, quality, model."""
    if camera is None:
        return _ended(capture, Decision.REJECTED, ("R04", "R06"), "CAMERA_UNKNOWN")
    if camera.tenant_id != capture.tenant_id:
        return _ended(capture, Decision.REJECTED, ("R09",), "TENANT_MISMATCH")
    if policy is None:
        return _ended(capture, Decision.BLOCKED, ("R12",), "NO_TENANT_POLICY")
    assessment = policy.tenant.impact_assessment
    if policy.pack.require_impact_assessment and assessment is None:
        return _ended(capture, Decision.BLOCKED, ("R12",), "IMPACT_ASSESSMENT_MISSING")
    if assessment is not None and assessment.dated > capture.captured_at.date():
        return _ended(capture, Decision.BLOCKED, ("R12",), "IMPACT_ASSESSMENT_AFTER_CAPTURE")

    if camera.location_type in policy.private_locations:
        return _ended(capture, Decision.BLOCKED, ("R05",), "PRIVATE_SPACE", alerts=("R05",))
    if camera.location_type in policy.pack.public_locations and capture.purpose not in policy.public_place_purposes:
        return _ended(capture, Decision.BLOCKED, ("R04",), "PUBLIC_PLACE_PURPOSE")
    if policy.require_signage and not camera.signage_posted:
        return _ended(capture, Decision.BLOCKED, ("R04",), "NO_SIGNAGE")

    if capture.purpose in policy.forbidden_purposes:
        rules = ("R06", "R16") if capture.purpose is Purpose.SALE else ("R06",)
        return _ended(capture, Decision.BLOCKED, rules, "PURPOSE_FORBIDDEN")
    if capture.purpose not in camera.allowed_purposes:
        return _ended(capture, Decision.BLOCKED, ("R06",), "PURPOSE_NOT_ALLOWED_FOR_CAMERA")

    alerts: tuple[str, ...] = ()
    if capture.purpose in policy.pack.alternative_method_purposes and not policy.tenant.alternative_method_offered:
        alerts = ("R14",)  # flagged, not blocked: the tenant must offer a non-face alternative

    if calibration is None:
        return _ended(capture, Decision.STRIPPED, ("R08",), "MODEL_UNCALIBRATED", alerts)
    try:
        vector = from_bytes(capture.template, calibration.dim)
    except TemplateError:
        return _ended(capture, Decision.REJECTED, ("R08",), "TEMPLATE_INVALID", alerts)
    if capture.quality < policy.min_quality:
        return _ended(capture, Decision.STRIPPED, ("R08",), "LOW_QUALITY", alerts)
    masked = capture.occlusion is Occlusion.MASK
    if capture.occlusion is Occlusion.OTHER or (masked and not policy.identify_masked):
        return _ended(capture, Decision.STRIPPED, ("R08",), "MASKED" if masked else "OCCLUDED", alerts)
    return Identify(vector=vector, masked=masked, alerts=alerts)


def consent_terms(policy: EffectivePolicy) -> ConsentTerms:
    return ConsentTerms(
        notice_versions=policy.tenant.notice_versions,
        require_separate=policy.pack.require_separate_consent,
        require_written=policy.require_written_consent,
    )


def identification_threshold(calibration: Calibration, policy: EffectivePolicy, masked: bool, enrolled: int) -> float:
    """The match threshold for 1:N search: the policy's false-accept target spread over n comparisons."""
    return calibration.threshold(masked, policy.far_target / max(1, enrolled))


def conclude(
    capture: FaceCaptured,
    pending: Identify,
    match: Match,
    threshold: float,
    consent: ConsentHistory | None,
    policy: EffectivePolicy,
    now: datetime,
) -> Outcome:
    """Step 7: forward only a match whose consent is valid for this capture; otherwise strip."""
    if match.subject_id is None or match.score <= threshold:
        return _finish(Outcome(Decision.STRIPPED, ("R01", "R08"), ("NO_MATCH",), pending.alerts), capture)
    minor = capture.age_estimate is not None and capture.age_estimate < policy.minor_age
    check = check_consent(
        consent,
        capture.purpose,
        capture.captured_at,
        now=now,
        terms=consent_terms(policy),
        minor=minor,
    )
    relied_on = consent.in_force(capture.captured_at) if consent is not None else None
    reference = consent_ref(relied_on) if relied_on is not None else None
    if not check.valid:
        return _finish(
            Outcome(
                Decision.STRIPPED,
                _merge(check.rule_ids, ("R08",)),
                (check.reason or "CONSENT_INVALID",),
                pending.alerts,
                consent_ref=reference,
                score=match.score,
            ),
            capture,
        )
    return _finish(
        Outcome(
            Decision.FORWARDED,
            _merge(check.rule_ids, ("R08",)),
            (),
            pending.alerts,
            subject_id=match.subject_id,
            consent_ref=reference,
            score=match.score,
        ),
        capture,
    )


def score_band(score: float | None) -> str | None:
    """Match scores go to the audit in bands of 0.05, enough to review a decision, no more."""
    if score is None:
        return None
    low = float(np.floor(score * 20) / 20)
    return f"{low:.2f}-{low + 0.05:.2f}"
