"""The record of processing (GDPR art. 30(1), PIPL art. 55-56) built from policies, cameras and consents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.contract.models import CameraRegistration, ConsentRecord
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, LocationType, Purpose
from gateway.core.policy.tenant import ImpactAssessment, SharingAgreement, TenantPolicy
from gateway.core.processing import StreamRetention, processing_record, to_markdown
from gateway.files.policies import policy_of

NOW = datetime(2026, 11, 1, tzinfo=UTC)
RETENTION = StreamRetention(3_600_000, 3_600_000, 7 * 86_400_000, 7 * 86_400_000, -1, 3_600_000)


def camera(camera_id: str, tenant: str, site: str, region: str = "CN", signage: bool = True) -> CameraRegistration:
    return CameraRegistration(
        camera_id=camera_id, tenant_id=tenant, site_id=site, location_type=LocationType.OFFICE,
        signage_posted=signage, allowed_purposes=[Purpose.ACCESS_CONTROL, Purpose.ATTENDANCE], region=region,
    )  # fmt: skip


def consent(tenant: str, subject: str, **changes: object) -> ConsentRecord:
    base = ConsentRecord(
        tenant_id=tenant, subject_id=subject, status=ConsentStatus.GRANTED, purposes=[Purpose.ACCESS_CONTROL],
        separate=True, method=ConsentMethod.WRITTEN, notice_version="notice-v3", granted_at=NOW - timedelta(days=3),
    )  # fmt: skip
    return base.model_copy(update=changes)


ACME = policy_of(
    TenantPolicy(
        tenant_id="acme", pack="pipl-cn", impact_assessment=ImpactAssessment(reference="PIA-17", dated="2026-10-01"),
        notice_versions=frozenset({"notice-v3"}),
        sharing_agreements=(
            SharingAgreement(id="AG-1", recipient_tenant_id="beta", purposes=frozenset({Purpose.ACCESS_CONTROL}),
                             regions=frozenset({"CN"}), impact_assessment_reference="PIA-18"),
            SharingAgreement(id="AG-2", recipient_tenant_id="gamma", purposes=frozenset({Purpose.ACCESS_CONTROL}),
                             regions=frozenset({"SG"}), impact_assessment_reference="PIA-19"),
        ),
    )
)  # fmt: skip


def records() -> dict[str, dict[str, Any]]:
    cameras = [camera("cam-2", "acme", "hq"), camera("cam-1", "acme", "hq"), camera("cam-9", "acme", "lab", "SG", False),
               camera("cam-b", "beta", "shop")]  # fmt: skip
    consents = [
        consent("acme", "p1", recipients=["beta"]),
        consent("acme", "p2", minor=True, guardian_consent=True, purposes=[Purpose.ACCESS_CONTROL, Purpose.ATTENDANCE]),
        consent("acme", "p3", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW - timedelta(days=1)),
        consent("acme", "p4", expires_at=NOW - timedelta(days=1)),
        consent("acme", "p5", recipients=["delta"]),
        consent("beta", "q1"),
    ]
    built = processing_record({"acme": ACME}, cameras, consents, {"acme": 3}, RETENTION, NOW, tenants=["empty"])
    return {r["tenant_id"]: r for r in built}


def test_each_tenant_known_anywhere_has_a_record_and_sees_only_its_own() -> None:
    by_tenant = records()
    assert list(by_tenant) == ["acme", "beta", "empty"]
    acme = by_tenant["acme"]
    assert [c["camera_id"] for s in acme["sites"] for c in s["cameras"]] == ["cam-1", "cam-2", "cam-9"]
    assert by_tenant["beta"]["policy"] is None and "no tenant policy" in by_tenant["beta"]["findings"][0]
    assert by_tenant["beta"]["data"]["subjects"]["consenting"] == 1


def test_controller_subjects_purposes_and_sites() -> None:
    acme = records()["acme"]
    policy = acme["policy"]
    assert policy["pack"]["id"] == "pipl-cn" and policy["impact_assessment"]["reference"] == "PIA-17"
    assert policy["legal_basis"] and all(s.startswith(("R01", "R02", "R12")) for s in policy["legal_basis"])
    subjects = acme["data"]["subjects"]
    assert (subjects["consenting"], subjects["minors_consenting"], subjects["withdrawn"], subjects["expired"]) == (
        3,
        1,
        1,
        1,
    )
    assert subjects["enrolled_templates"] == 3
    purposes = {p["purpose"]: p for p in acme["purposes"]}
    assert purposes["ACCESS_CONTROL"] == {"purpose": "ACCESS_CONTROL", "cameras": 3, "consenting_subjects": 3,
                                          "forbidden_by_policy": False}  # fmt: skip
    assert purposes["ATTENDANCE"]["consenting_subjects"] == 1
    assert [(s["site_id"], s["regions"]) for s in acme["sites"]] == [("hq", ["CN"]), ("lab", ["SG"])]


def test_retention_recipients_transfers_and_findings() -> None:
    acme = records()["acme"]
    retention = acme["retention"]
    assert (
        retention["raw_captures"].startswith("1 hour(s)") and retention["audit_and_erasure_notices"] == "kept for good"
    )
    assert "day(s) after the purpose ends" in retention["protected_templates"]
    recipients = {r["recipient"]: r for r in acme["recipients"]}
    assert recipients["beta"]["agreement"] == "AG-1" and recipients["beta"]["consenting_subjects"] == 1
    assert acme["transfers"] == [{"recipient": "gamma", "agreement": "AG-2", "regions": ["SG"], "mechanism": None}]
    findings = "\n".join(acme["findings"])
    assert "cameras in regions outside pack pipl-cn's (SG)" in findings
    assert "signage required but not posted at 1 camera(s)" in findings
    assert "1 consent(s) name recipient delta with no sharing agreement" in findings
    assert "agreement AG-2 transfers to SG without a transfer mechanism" in findings


def test_json_and_markdown_name_no_subject() -> None:
    built = list(records().values())
    text = json.dumps(built) + to_markdown(built)
    assert not any(subject in text for subject in ("p1", "p2", "p3", "p4", "p5", "q1"))
    markdown = to_markdown(built)
    assert "## acme" in markdown and "| hq | CN | cam-1 | OFFICE |" in markdown and "PIA-17" in markdown
    assert "- to gamma in SG (agreement AG-2): mechanism **none**" in markdown


def test_what_a_tenant_wrote_is_text_in_the_record_never_a_section_a_link_or_an_image() -> None:
    forged = (
        "lobby |\n\n## beta\n\n- Policy: **none** ![x](https://evil.example/p.png) [re-verify](https://evil.example)"
    )
    cameras = [camera(forged, "acme", "hq")]
    markdown = to_markdown(processing_record({"acme": ACME}, cameras, [], {}, RETENTION, NOW))
    assert "## beta" not in markdown and "![x](" not in markdown and "](https" not in markdown
    [row] = [line for line in markdown.splitlines() if "lobby" in line]
    assert row.startswith("| hq | CN | lobby \\|\\n\\n\\#\\# beta") and "\\!\\[x\\]\\(https\\://evil\\.example" in row
    assert "**none**" not in row and "\\*\\*none\\*\\*" in row
