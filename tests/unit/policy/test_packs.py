"""The jurisdiction packs beyond China, each checked against the text it encodes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.contract.models import ConsentRecord
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.consent import Consented, ConsentHistory, check_consent
from gateway.core.policy.decision import consent_terms
from gateway.core.policy.pack import PolicyError
from gateway.core.policy.tenant import EffectivePolicy, ImpactAssessment, TenantPolicy, Tightening
from gateway.files.packs import PACKS, load_pack
from gateway.files.policies import policy_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VISIT = Purpose.REPEAT_VISITOR_RECOGNITION


def policy(pack: str, **tighten: object) -> EffectivePolicy:
    return policy_of(
        TenantPolicy(
            tenant_id="acme", pack=pack, notice_versions=frozenset({"n1"}),
            impact_assessment=ImpactAssessment(reference="PIA-1", dated=date(2025, 1, 1)),
            tighten=Tightening.model_validate(tighten),
        )
    )  # fmt: skip


def judged(pack: str, minor: bool = False, **consent: object) -> str:
    record = ConsentRecord.model_validate(
        {
            "tenant_id": "acme", "subject_id": "s", "status": ConsentStatus.GRANTED, "purposes": [VISIT],
            "separate": True, "method": ConsentMethod.ELECTRONIC, "notice_version": "n1", "granted_at": T0, **consent,
        }
    )  # fmt: skip
    at = T0 + timedelta(days=1)
    check = check_consent(ConsentHistory((record,)), VISIT, at, now=at, terms=consent_terms(policy(pack)), minor=minor)
    return "VALID" if isinstance(check, Consented) else check.reason


def test_there_are_four_packs() -> None:
    assert sorted(p.stem for p in PACKS.glob("*.yaml")) == ["bipa-il", "cubi-tx", "gdpr-eu", "pipl-cn"]


@pytest.mark.parametrize("pack", ["pipl-cn", "gdpr-eu", "bipa-il", "cubi-tx"])
def test_every_pack_demands_separate_consent_and_forbids_sale(pack: str) -> None:
    loaded = load_pack(pack)
    assert loaded.require_separate_consent and Purpose.SALE in loaded.forbidden_purposes
    assert judged(pack, separate=False) == "CONSENT_BUNDLED"
    assert judged(pack) == ("CONSENT_NOT_WRITTEN" if pack == "bipa-il" else "VALID")


def test_bipa_15b_needs_a_written_release() -> None:
    assert judged("bipa-il") == "CONSENT_NOT_WRITTEN"
    assert judged("bipa-il", method=ConsentMethod.WRITTEN) == "VALID"


def test_bipa_15a_retention_is_three_years_after_the_last_interaction_or_the_purpose_whichever_first() -> None:
    retention = load_pack("bipa-il").retention
    assert retention.max_days_since_enrollment == 3 * 365 and retention.purpose_end_grace_days == 0


def test_cubi_destroys_within_a_year_after_the_purpose_expires() -> None:
    retention = load_pack("cubi-tx").retention
    assert retention.purpose_end_grace_days == 365 and retention.max_days_since_enrollment is None
    assert not load_pack("cubi-tx").require_written_consent  # 503.001(b): consent, no form


def test_pipl_and_gdpr_erase_when_the_purpose_ends() -> None:
    for pack in ("pipl-cn", "gdpr-eu"):
        assert load_pack(pack).retention.purpose_end_grace_days == 0


def test_gdpr_article_8_children_under_16_need_parental_consent() -> None:
    assert load_pack("gdpr-eu").minor_age == 16
    assert judged("gdpr-eu", minor=True) == "MINOR_WITHOUT_GUARDIAN"


def test_gdpr_needs_a_dpia_and_safeguards_outside_the_eea() -> None:
    pack = load_pack("gdpr-eu")
    assert pack.require_impact_assessment and pack.sharing_requires_impact_assessment  # art. 35
    assert {"DE", "FR", "NO"} <= pack.regions and "US" not in pack.regions and "GB" not in pack.regions
    assert pack.cross_border_requires_transfer_mechanism  # art. 44-49
    assert pack.filing_threshold is None  # the CAC filing is Chinese


def test_pipl_cross_border_and_sharing() -> None:
    pack = load_pack("pipl-cn")
    assert pack.regions == {"CN"} and pack.cross_border_requires_transfer_mechanism  # art. 38-40
    assert pack.sharing_requires_impact_assessment  # art. 55(3)


def test_us_packs_need_no_assessment_and_no_transfer_mechanism() -> None:
    for name in ("bipa-il", "cubi-tx"):
        pack = load_pack(name)
        assert pack.regions == {"US"} and not pack.cross_border_requires_transfer_mechanism
        assert not pack.sharing_requires_impact_assessment and not pack.require_impact_assessment


def test_retention_may_only_be_shortened() -> None:
    assert policy("cubi-tx", retention_purpose_end_grace_days=10).retention.purpose_end_grace_days == 10
    assert policy("pipl-cn", retention_max_days_since_enrollment=90).retention.max_days_since_enrollment == 90
    with pytest.raises(PolicyError, match="retention_purpose_end_grace_days 30 is above 0"):
        policy("pipl-cn", retention_purpose_end_grace_days=30)
    with pytest.raises(PolicyError, match="retention_max_days_since_enrollment 2000 is above 1095"):
        policy("bipa-il", retention_max_days_since_enrollment=2000)
