"""The packs say what the laws say (issue 16): one test per clause, built from its wording."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from gateway.contract.models import AuditRecord, CameraRegistration, FaceCaptured, ShareRequest
from gateway.contract.vocabulary import Decision, DisclosureBasis, EnrollmentSource, LocationType, Occlusion, Purpose
from gateway.core.anomaly import IdentificationRates
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.sharing import share
from gateway.core.policy.decision import Identify, screen
from gateway.core.policy.outcome import Outcome
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from gateway.core.policy.tenant import ImpactAssessment, SharingAgreement, TenantPolicy
from gateway.core.state import GatewayState
from gateway.files.calibrations import shipped
from gateway.files.policies import policy_of
from tests.support.core import CODEC, NAMES, NOW, context
from tests.support.lifecycle import VISIT, apply, consent, enrollment, give, new_state, on, policy_for, record

CALIBRATION = shipped()["synthetic-512"]


def _policy(pack: str, **tenant: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = dict(
        tenant_id="acme", pack=pack, impact_assessment=ImpactAssessment(reference="PIA-1", dated=date(2025, 1, 1)),
        notice_versions=frozenset({"notice-v1"}),
    )  # fmt: skip
    return policy_of(TenantPolicy.model_validate({**fields, **tenant}))


def _camera(location: LocationType = LocationType.OFFICE) -> CameraRegistration:
    return CameraRegistration(
        camera_id="cam", tenant_id="acme", site_id="site", location_type=location, signage_posted=True,
        allowed_purposes=list(Purpose), region="X",
    )  # fmt: skip


def _capture(purpose: Purpose) -> FaceCaptured:
    vector = np.ones(512, dtype=np.float32) / np.sqrt(512)
    return FaceCaptured(
        event_id="e1", camera_id="cam", tenant_id="acme", captured_at=NOW - timedelta(minutes=1), purpose=purpose,
        template=to_bytes(vector), template_model="synthetic-512", quality=0.9, occlusion=Occlusion.NONE,
    )  # fmt: skip


# -- R14 ------------------------------------------------------------------------------------------
def test_r14_face_recognition_is_never_the_only_method_under_the_cac_measures() -> None:
    """CAC measures art. 10: "where there are other non-facial-recognition technical means to
    achieve the same purpose or meet the same business requirements, facial recognition shall
    not be the only verification method" (unless state rules provide otherwise)."""
    only_faces = screen(_capture(Purpose.ACCESS_CONTROL), _camera(), _policy("pipl-cn"), CALIBRATION)
    assert isinstance(only_faces, Outcome)
    assert only_faces.decision is Decision.BLOCKED
    assert (only_faces.rule_ids, only_faces.reason_codes) == (
        (Rule.ALTERNATIVE_METHOD,),
        (Reason.NO_ALTERNATIVE_METHOD,),
    )
    offered = screen(
        _capture(Purpose.ACCESS_CONTROL), _camera(), _policy("pipl-cn", alternative_method_offered=True), CALIBRATION
    )
    assert isinstance(offered, Identify) and not offered.alerts
    # A purpose no alternative could serve is not concerned.
    assert isinstance(screen(_capture(VISIT), _camera(), _policy("pipl-cn"), CALIBRATION), Identify)


def test_r14_is_only_flagged_where_the_law_requires_no_alternative() -> None:
    """GDPR art. 7(4) weighs a consent made a condition of a service; no article forbids face
    recognition as the only method, so the gdpr-eu pack flags it (for the DPIA) and decides on."""
    flagged = screen(_capture(Purpose.ACCESS_CONTROL), _camera(), _policy("gdpr-eu"), CALIBRATION)
    assert isinstance(flagged, Identify) and flagged.alerts == (Rule.ALTERNATIVE_METHOD,)


# -- R04 under the EU AI Act ------------------------------------------------------------------------
@pytest.mark.parametrize("place", [LocationType.PUBLIC_PLACE, LocationType.TRANSPORT_HUB])
def test_r04_public_security_identification_in_the_eu_needs_an_authorisation(place: LocationType) -> None:
    """AI Act art. 5(1)(h): the use of "real-time" remote biometric identification systems in
    publicly accessible spaces for the purposes of law enforcement is prohibited unless strictly
    necessary for the listed objectives; art. 5(3): each use "shall be subject to a prior
    authorisation granted by a judicial authority or an independent administrative authority
    whose decision is binding"."""
    refused = screen(_capture(Purpose.PUBLIC_SECURITY), _camera(place), _policy("gdpr-eu"), CALIBRATION)
    assert isinstance(refused, Outcome) and refused.decision is Decision.BLOCKED
    assert (refused.rule_ids, refused.reason_codes) == ((Rule.PUBLIC_PLACE,), (Reason.NO_AUTHORISATION,))
    authorised = _policy("gdpr-eu", public_security_authorisation="Court of Milan, order 2026/114")
    assert isinstance(screen(_capture(Purpose.PUBLIC_SECURITY), _camera(place), authorised, CALIBRATION), Identify)
    # PIPL art. 26 asks no such authorisation: public security is the purpose it allows there.
    assert isinstance(
        screen(_capture(Purpose.PUBLIC_SECURITY), _camera(place), _policy("pipl-cn"), CALIBRATION), Identify
    )


def test_the_authorisation_reference_is_part_of_the_policy_version() -> None:
    plain, authorised = _policy("gdpr-eu"), _policy("gdpr-eu", public_security_authorisation="AUTH-1")
    assert plain.version != authorised.version  # every record names the authorisation it ran under


# -- R09 / R16 under Texas law --------------------------------------------------------------------------
TX_AGREEMENT = SharingAgreement(
    id="AGR-TX", recipient_tenant_id="partner", purposes=frozenset({VISIT}), regions=frozenset({"US"})
)


def _texas_share(basis: DisclosureBasis | None) -> AuditRecord:
    state = new_state()
    state.policies["acme"] = policy_for("acme", pack="cubi-tx", agreements=(TX_AGREEMENT,))
    give(state, consent())
    s = context(state)
    in_person = enrollment().model_copy(update={"source": EnrollmentSource.SUBJECT_PRESENT})
    enroll(record(NAMES.enroll("acme"), CODEC.encode(in_person)), s)
    apply(state, s.result)
    request = ShareRequest(
        request_id=f"req-{basis}", tenant_id="acme", subject_id="s1", recipient_tenant_id="partner",
        recipient_region="US", purpose=VISIT, agreement_id="AGR-TX", requested_at=NOW, disclosure_basis=basis,
    )  # fmt: skip
    s = context(state)
    share(record(NAMES.share_requests("acme"), CODEC.encode(request)), s)
    [audit] = on(s.result, NAMES.audit)
    return CODEC.decode(audit.value or b"", AuditRecord)


@pytest.mark.parametrize("basis", [None, DisclosureBasis.OTHER])
def test_texas_refuses_a_disclosure_on_consent_alone(basis: DisclosureBasis | None) -> None:
    """Tex. Bus. & Com. Code §503.001(c)(1): a person who possesses a biometric identifier "may
    not sell, lease, or otherwise disclose the biometric identifier to another person unless"
    (A)-(D). A consent naming the recipient is none of these."""
    audit = _texas_share(basis)
    assert audit.decision is Decision.SHARE_BLOCKED
    assert audit.reason_codes == [Reason.DISCLOSURE_BASIS_MISSING]
    assert {"R09", "R16"} <= set(audit.rule_ids)
    assert "R16: Tex. Bus. & Com. Code §503.001(c)(1)" in audit.legal_sources


@pytest.mark.parametrize("basis", [b for b in DisclosureBasis if b is not DisclosureBasis.OTHER])
def test_texas_allows_the_four_listed_grounds(basis: DisclosureBasis) -> None:
    """(A) the individual consents to the disclosure for identification purposes in the event of
    the individual's disappearance or death; (B) the disclosure completes a financial transaction
    that the individual requested or authorized; (C) the disclosure is required or permitted by a
    federal statute or by a state statute other than Chapter 552, Government Code; (D) the
    disclosure is made by or to a law enforcement agency for a law enforcement purpose in
    response to a warrant."""
    audit = _texas_share(basis)
    assert audit.decision is Decision.SHARED, audit.reason_codes
    assert "R09: Tex. Bus. & Com. Code §503.001(c)(1)(A)-(D)" in audit.legal_sources


# -- R17 --------------------------------------------------------------------------------------------------
def _enroll(pack: str, source: EnrollmentSource | None) -> tuple[GatewayState, list[AuditRecord]]:
    state = new_state()
    state.policies["acme"] = policy_for("acme", pack=pack)
    give(state, consent())
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment().model_copy(update={"source": source}))), s)
    apply(state, s.result)
    return state, [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]


@pytest.mark.parametrize(
    "source", [EnrollmentSource.PUBLIC_SOURCE, EnrollmentSource.CCTV_FOOTAGE, EnrollmentSource.BULK_IMPORT, None]
)
def test_r17_the_eu_refuses_faces_from_untargeted_scraping(source: EnrollmentSource | None) -> None:
    """AI Act art. 5(1)(e) prohibits "the placing on the market, the putting into service for this
    specific purpose, or the use of AI systems that create or expand facial recognition databases
    through the untargeted scraping of facial images from the internet or CCTV footage". A source
    not stated cannot show it was not."""
    state, audits = _enroll("gdpr-eu", source)
    assert "acme/s1" not in state.enrollments
    [refused] = [a for a in audits if a.decision is Decision.BLOCKED]
    assert refused.rule_ids == ["R17"] and Reason.SOURCE_FORBIDDEN in refused.reason_codes
    assert "R17: AI Act Art. 5(1)(e)" in refused.legal_sources


def test_r17_texas_refuses_faces_taken_from_public_sources() -> None:
    """§503.001(b-1): an image or other media made available on the internet or other publicly
    available source does not constitute notice or consent unless made public by the individual."""
    state, audits = _enroll("cubi-tx", EnrollmentSource.PUBLIC_SOURCE)
    assert "acme/s1" not in state.enrollments and audits[0].reason_codes[-1] == Reason.SOURCE_FORBIDDEN
    state, _ = _enroll("cubi-tx", EnrollmentSource.SUBJECT_PRESENT)
    assert "acme/s1" in state.enrollments


@pytest.mark.parametrize("pack", ["gdpr-eu", "pipl-cn", "bipa-il", "cubi-tx"])
def test_r17_faces_from_the_subject_are_enrolled_and_an_unknown_source_never(pack: str) -> None:
    state, _ = _enroll(pack, EnrollmentSource.SUBJECT_PRESENT)
    assert "acme/s1" in state.enrollments
    state, _ = _enroll(pack, EnrollmentSource.UNKNOWN)  # a source newer than this release
    assert "acme/s1" not in state.enrollments


# -- R18 ---------------------------------------------------------------------------------------------------
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_r18_a_burst_beyond_the_tenants_own_baseline_is_an_alert() -> None:
    """PIPL art. 51: the processor takes security measures against unauthorised access and
    misuse; CAC measures art. 14: face recognition systems use security auditing and intrusion
    detection. A tenant identifying far more people than it usually does is what misuse looks like."""
    rates = IdentificationRates()
    for minute in range(30):  # a steady tenant: 3 identifications a minute
        assert not any(rates.observe("acme", T0 + timedelta(minutes=minute, seconds=s)) for s in (1, 20, 40))
    assert 2.5 < rates.baseline("acme") < 3.1
    burst = [rates.observe("acme", T0 + timedelta(minutes=30, seconds=i / 2)) for i in range(60)]
    assert burst.index(True) == 20 and all(burst[20:])  # beyond max(20, 5 x baseline)
    # Another tenant is judged by its own history: a busy one is not a burst for itself.
    busy = IdentificationRates()
    for minute in range(30):
        assert not any(busy.observe("mall", T0 + timedelta(minutes=minute, seconds=s / 2)) for s in range(60))
    # Before a baseline exists nothing is called a burst.
    assert not any(IdentificationRates().observe("new", T0 + timedelta(seconds=i)) for i in range(50))


def test_r18_late_identifications_are_judged_in_their_own_minute() -> None:
    # A backlog's partitions are read in turn: one reaches minute 40 before the other's minutes 30-40
    # come. Those are no burst of minute 40, and a burst among them is still one.
    rates = IdentificationRates()
    for minute in range(30):
        for s in (1, 20, 40):
            rates.observe("acme", T0 + timedelta(minutes=minute, seconds=s))
    for minute in range(30, 41):  # the first partition, a capture a minute
        assert not rates.observe("acme", T0 + timedelta(minutes=minute, seconds=5))
    late = [
        rates.observe("acme", T0 + timedelta(minutes=minute, seconds=s)) for minute in range(30, 41) for s in (25, 45)
    ]
    assert not any(late), "the second partition's steady minutes"
    burst = [rates.observe("acme", T0 + timedelta(minutes=35, seconds=50 + i / 10)) for i in range(60)]
    assert burst.index(True) == 17 and all(burst[17:])  # minute 35 held 3: its 21st is the burst's 18th


def test_r18_quiet_minutes_lower_the_baseline() -> None:
    rates = IdentificationRates()
    for minute in range(20):
        for s in range(10):
            rates.observe("acme", T0 + timedelta(minutes=minute, seconds=s))
    before = rates.baseline("acme")
    rates.observe("acme", T0 + timedelta(minutes=60))
    assert rates.baseline("acme") < before / 10


# -- R15 -------------------------------------------------------------------------------------------------
def test_r15_the_enrollment_that_reaches_the_filing_threshold_raises_the_alert() -> None:
    """CAC filing announcement (2025-05-28) on the measures' art. 15: a processor storing the faces
    of 100,000 people "shall, within 30 working days from the day the number is reached", file with
    the provincial cyberspace office. The alert belongs on the enrollment that reaches the count,
    once; captures do not repeat it."""
    state = new_state()
    policy = policy_for("acme")
    state.policies["acme"] = policy.model_copy(update={"pack": policy.pack.model_copy(update={"filing_threshold": 3})})
    alerts = []
    for n in range(5):
        give(state, consent(f"s{n}"))
        s = context(state)
        enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment(f"s{n}", person=n)), offset=n), s)
        apply(state, s.result)
        [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
        alerts.append(audit.alerts)
    assert alerts == [[], [], ["R15"], [], []]
    s = context(state)  # re-enrolling the third subject does not reach the count again
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment("s2", person=2)), offset=9), s)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    assert audit.alerts == [] and "R15: CAC FRT Measures Art. 15" not in audit.legal_sources
