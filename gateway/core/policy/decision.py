"""The decision for one capture (docs/design.md), as pure functions.

`screen` runs the checks that need no identification (steps 3-6, 8); a capture that passes
them needs identification. The shell protects and searches such captures in batches, then
`conclude` decides from the best match and that subject's consent (step 7). Every outcome
names the rules that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from gateway.contract.models import CameraRegistration, FaceCaptured
from gateway.contract.vocabulary import Decision, LocationType, Occlusion, Purpose
from gateway.core.biometrics.calibration import Calibration
from gateway.core.biometrics.embeddings import TemplateError, Vectors
from gateway.core.biometrics.matching import Match
from gateway.core.consent import ConsentHistory, ConsentTerms, check_consent
from gateway.core.policy.outcome import Outcome, Refusal, merged
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from gateway.core.policy.tenant import EffectivePolicy

PUBLIC_PLACE_TYPES = frozenset({LocationType.PUBLIC_PLACE, LocationType.TRANSPORT_HUB})
PROTECT = (Rule.TEMPLATE_PROTECTION,)  # every outcome past screening names the template's protection


@dataclass(frozen=True)
class Identify:
    """A capture that passed screening: identify it against the tenant's enrolled templates."""

    vector: Vectors = field(repr=False)
    masked: bool
    alerts: tuple[Rule, ...] = ()


def _finish(outcome: Outcome, capture: FaceCaptured) -> Outcome:
    """Step 8: the image never goes on (R07); say so wherever one came in."""
    if capture.image is None:
        return outcome
    return outcome.with_rules((Rule.NO_RAW_IMAGE,), (Reason.IMAGE_DISCARDED,))


def _ended(capture: FaceCaptured, decision: Decision, refusal: Refusal, alerts: tuple[Rule, ...] = ()) -> Outcome:
    return _finish(refusal.outcome(decision).with_rules(alerts=alerts), capture)


_REGISTRY = (Rule.PUBLIC_PLACE, Rule.PURPOSE_LOCK)  # what a camera's registration establishes


def from_its_vendor(capture: FaceCaptured, camera: CameraRegistration | None, vendor: str | None) -> Outcome | None:
    """A registered camera's captures are accepted only from the vendor it names, i.e. on the
    capture topic only that vendor may write; None if so (or if the camera is unknown: screened)."""
    if camera is None or (vendor is not None and camera.vendor_id == vendor):
        return None
    return _ended(capture, Decision.REJECTED, Refusal(_REGISTRY, Reason.VENDOR_MISMATCH))


def screen(
    capture: FaceCaptured,
    camera: CameraRegistration | None,
    policy: EffectivePolicy | None,
    calibration: Calibration | None,
) -> Outcome | Identify:
    """Steps 3-6: registry, tenant, assessment, location, purpose, quality, model."""
    if camera is None:
        return _ended(capture, Decision.REJECTED, Refusal(_REGISTRY, Reason.CAMERA_UNKNOWN))
    if camera.tenant_id != capture.tenant_id:
        return _ended(capture, Decision.REJECTED, Refusal((Rule.CROSS_COMPANY,), Reason.TENANT_MISMATCH))
    if policy is None:
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.IMPACT_ASSESSMENT,), Reason.NO_TENANT_POLICY))
    assessment = policy.tenant.impact_assessment
    if policy.pack.require_impact_assessment and assessment is None:
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.IMPACT_ASSESSMENT,), Reason.IMPACT_ASSESSMENT_MISSING))
    if assessment is not None and assessment.dated > capture.captured_at.date():
        return _ended(
            capture, Decision.BLOCKED, Refusal((Rule.IMPACT_ASSESSMENT,), Reason.IMPACT_ASSESSMENT_AFTER_CAPTURE)
        )

    if capture.purpose is Purpose.UNKNOWN:  # newer than this contract: nothing here can allow it
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.PURPOSE_LOCK,), Reason.PURPOSE_UNKNOWN))
    if camera.location_type is LocationType.UNKNOWN:  # possibly private: the strictest case
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.PRIVATE_SPACE,), Reason.LOCATION_UNKNOWN))
    if camera.location_type in policy.private_locations:
        return _ended(
            capture, Decision.BLOCKED, Refusal((Rule.PRIVATE_SPACE,), Reason.PRIVATE_SPACE), (Rule.PRIVATE_SPACE,)
        )
    if camera.location_type in policy.pack.public_locations and capture.purpose not in policy.public_place_purposes:
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.PUBLIC_PLACE,), Reason.PUBLIC_PLACE_PURPOSE))
    if policy.require_signage and not camera.signage_posted:
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.PUBLIC_PLACE,), Reason.NO_SIGNAGE))
    if (
        camera.location_type in policy.pack.public_locations
        and policy.pack.public_place_authorisation_required
        and policy.tenant.public_security_authorisation is None
    ):  # EU AI Act art. 5(1)(h), 5(3): each use authorised in advance
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.PUBLIC_PLACE,), Reason.NO_AUTHORISATION))

    if capture.purpose in policy.forbidden_purposes:
        rules = (Rule.PURPOSE_LOCK, Rule.NO_SALE) if capture.purpose is Purpose.SALE else (Rule.PURPOSE_LOCK,)
        return _ended(capture, Decision.BLOCKED, Refusal(rules, Reason.PURPOSE_FORBIDDEN))
    if capture.purpose not in camera.allowed_purposes:
        return _ended(capture, Decision.BLOCKED, Refusal((Rule.PURPOSE_LOCK,), Reason.PURPOSE_NOT_ALLOWED_FOR_CAMERA))

    alerts: tuple[Rule, ...] = ()
    if capture.purpose in policy.pack.alternative_method_purposes and not policy.tenant.alternative_method_offered:
        if policy.pack.alternative_method_required:  # CAC measures art. 10: never the only method
            return _ended(capture, Decision.BLOCKED, Refusal((Rule.ALTERNATIVE_METHOD,), Reason.NO_ALTERNATIVE_METHOD))
        alerts = (Rule.ALTERNATIVE_METHOD,)  # flagged: the tenant should offer a non-face alternative

    if calibration is None:
        return _ended(capture, Decision.STRIPPED, Refusal(PROTECT, Reason.MODEL_UNCALIBRATED), alerts)
    try:
        vector = calibration.template(capture.template)
    except TemplateError:
        return _ended(capture, Decision.REJECTED, Refusal(PROTECT, Reason.TEMPLATE_INVALID), alerts)
    if capture.quality < policy.min_quality:
        return _ended(capture, Decision.STRIPPED, Refusal(PROTECT, Reason.LOW_QUALITY), alerts)
    masked = capture.occlusion is Occlusion.MASK
    if capture.occlusion is Occlusion.OTHER or (masked and not policy.identify_masked):
        return _ended(
            capture, Decision.STRIPPED, Refusal(PROTECT, Reason.MASKED if masked else Reason.OCCLUDED), alerts
        )
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


def conclude(  # noqa: PLR0913 - step 7 weighs the match against all that is held of its subject
    capture: FaceCaptured,
    pending: Identify,
    match: Match,
    threshold: float,
    consent: ConsentHistory | None,
    policy: EffectivePolicy,
    now: datetime,
    enrolled_at: datetime | None = None,
) -> Outcome:
    """Step 7: forward only a match whose consent is valid for this capture, and whose enrollment
    (made at `enrolled_at`) the pack still lets the tenant keep; otherwise strip."""
    if match.subject_id is None or match.score <= threshold:
        no_match = Outcome(Decision.STRIPPED, (Rule.SEPARATE_CONSENT, *PROTECT), (Reason.NO_MATCH,), pending.alerts)
        return _finish(no_match, capture)
    if enrolled_at is not None and policy.retention.outlived(enrolled_at, now):  # the sweep has yet to erase it
        outlived = Outcome(Decision.STRIPPED, (Rule.RETENTION, *PROTECT), (Reason.RETENTION,), pending.alerts)
        return _finish(outlived, capture)
    minor = capture.age_estimate is not None and capture.age_estimate < policy.minor_age
    check = check_consent(
        consent, capture.purpose, capture.captured_at, now=now, terms=consent_terms(policy), minor=minor
    )
    relied_on = consent.in_force(capture.captured_at) if consent is not None else None
    reference = consent.ref(relied_on) if consent is not None and relied_on is not None else None
    if isinstance(check, Refusal):
        refused = check.outcome(Decision.STRIPPED, consent_ref=reference, score=match.score)
        return _finish(refused.with_rules(PROTECT, alerts=pending.alerts), capture)
    forwarded = Outcome(
        Decision.FORWARDED, merged(check.rules, PROTECT), (), pending.alerts,
        subject_id=match.subject_id, consent_ref=reference, score=match.score,
    )  # fmt: skip
    return _finish(forwarded, capture)


def score_band(score: float | None) -> str | None:
    """Match scores go to the audit in bands of 0.05, enough to review a decision, no more."""
    if score is None:
        return None
    low = float(np.floor(score * 20) / 20)
    return f"{low:.2f}-{low + 0.05:.2f}"
