"""Packs are data, tenant policies may only tighten them, and every policy has a version."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.contract.vocabulary import LocationType, Purpose
from gateway.core.policy.pack import PolicyError
from gateway.core.policy.rules import CATALOGUE, Rule, legal_sources
from gateway.core.policy.tenant import (
    ImpactAssessment,
    TenantPolicy,
    Tightening,
)
from gateway.files.packs import load_pack
from gateway.files.policies import load_policies, load_tenant_policy, policy_of


def test_the_catalogue_names_every_rule_by_its_stable_id() -> None:
    assert [r.value for r in Rule] == [f"R{i:02d}" for i in range(1, 20)]
    assert set(CATALOGUE) == set(Rule) and all(spec.id is rule for rule, spec in CATALOGUE.items())
    assert CATALOGUE[Rule.PURPOSE_LOCK].name == "purpose-lock" and "PIPL 24" in CATALOGUE[Rule.PURPOSE_LOCK].sources
    assert legal_sources([Rule.PRIVATE_SPACE, Rule.PRIVATE_SPACE]) == ["R05: CAC"]  # the catalogue summary


def test_pipl_pack_encodes_the_law() -> None:
    pack = load_pack("pipl-cn")
    # PIPL art. 24 and the Ningbo case: no consent makes commission attribution or pricing lawful.
    assert {Purpose.PRICING, Purpose.COMMISSION_ATTRIBUTION} <= pack.forbidden_purposes
    assert {
        LocationType.TOILET,
        LocationType.HOTEL_ROOM,
        LocationType.BATHROOM,
        LocationType.CHANGING_ROOM,
    } == pack.private_locations
    assert pack.public_place_purposes == {Purpose.PUBLIC_SECURITY}  # PIPL art. 26
    assert pack.minor_age == 14 and pack.filing_threshold == 100_000  # PIPL art. 31, CAC art. 15


def test_unknown_pack_is_named() -> None:
    with pytest.raises(PolicyError, match="unknown jurisdiction pack 'mars'"):
        load_pack("mars")


def _tenant(**tighten: object) -> TenantPolicy:
    return TenantPolicy(
        tenant_id="acme",
        impact_assessment=ImpactAssessment(reference="PIA-1", dated=date(2026, 1, 1)),
        tighten=Tightening.model_validate(tighten),
    )


def test_tightening_is_applied() -> None:
    policy = policy_of(
        _tenant(
            min_quality=0.8,
            forbidden_purposes=[*load_pack("pipl-cn").forbidden_purposes, "MARKETING"],
            far_target=1e-5,
        )
    )
    assert policy.min_quality == 0.8 and Purpose.MARKETING in policy.forbidden_purposes and policy.far_target == 1e-5


@pytest.mark.parametrize(
    ("tighten", "named"),
    [
        ({"min_quality": 0.2}, "min_quality 0.2 is below"),
        ({"forbidden_purposes": ["SALE"]}, "forbidden_purposes drops COMMISSION_ATTRIBUTION"),
        ({"identify_masked": True}, "identify_masked cannot be turned on"),
        ({"require_signage": False}, "require_signage cannot be turned off"),
        ({"far_target": 0.01}, "far_target 0.01 is above"),
        ({"public_place_purposes": ["PUBLIC_SECURITY", "MARKETING"]}, "public_place_purposes adds MARKETING"),
        ({"minor_age": 12}, "minor_age 12 is below"),
    ],
)
def test_loosening_is_refused_with_a_clear_message(tighten: dict[str, object], named: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_of(_tenant(**tighten))
    assert "may only tighten pack pipl-cn" in str(caught.value) and named in str(caught.value)


def test_policy_version_changes_with_the_policy() -> None:
    assert policy_of(_tenant()).version == policy_of(_tenant()).version
    assert policy_of(_tenant()).version != policy_of(_tenant(min_quality=0.9)).version
    assert policy_of(_tenant()).version.startswith("pipl-cn@")


def test_policy_files(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(
        "tenant_id: acme\npack: pipl-cn\nimpact_assessment: {reference: PIA-7, dated: 2026-02-01}\n"
        "notice_versions: [notice-v3]\ntighten: {min_quality: 0.6}\n"
    )
    assert load_policies(tmp_path)["acme"].min_quality == 0.6
    (tmp_path / "bad.yaml").write_text("tenant_id: beta\ntighten: {min_quality: lots}\n")
    with pytest.raises(PolicyError, match=r"bad\.yaml: tighten\.min_quality"):
        load_tenant_policy(tmp_path / "bad.yaml")
