"""The record of processing activities a controller keeps (GDPR art. 30(1); PIPL art. 55-56 ask
the same of a personal-information protection impact assessment and its record), per tenant,
from what the gateway knows: the tenant's policy and pack, the camera registry, the consent
ledger's current versions, the enrolled templates and the retention settings.

Pure: `facegate report processing` (gateway/cli/report.py) reads the topics and prints this.
Nothing here names a subject: counts only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.contract.models import CameraRegistration, ConsentRecord
from gateway.contract.vocabulary import ConsentStatus, Purpose
from gateway.core.policy.rules import Rule
from gateway.core.policy.tenant import EffectivePolicy
from gateway.core.text import literal

DAY_MS = 86_400_000


@dataclass(frozen=True)
class StreamRetention:
    """How long each of the gateway's topics keeps a tenant's data, in ms (-1: kept for good)."""

    raw_ms: int
    enroll_ms: int
    governed_ms: int
    rejected_ms: int
    audit_ms: int
    erased_bound_ms: int


def _duration(ms: int) -> str:
    if ms < 0:
        return "kept for good"
    if ms % DAY_MS == 0:
        return f"{ms // DAY_MS} day(s)"
    if ms % 3_600_000 == 0:
        return f"{ms // 3_600_000} hour(s)"
    if ms % 60_000 == 0:
        return f"{ms // 60_000} minute(s)"
    return f"{ms / 1000:g} s"


def _sorted(values: Iterable[object]) -> list[str]:
    return sorted(str(v) for v in values)


def tenant_record(
    tenant_id: str,
    policy: EffectivePolicy | None,
    cameras: Iterable[CameraRegistration],
    consents: Iterable[ConsentRecord],
    enrolled: int,
    retention: StreamRetention,
    now: datetime,
) -> dict[str, Any]:
    """One tenant's record of processing. `consents`: each subject's current version; `enrolled`:
    the protected templates held. Gaps a reviewer should see are listed under `findings`."""
    own_cameras = sorted((c for c in cameras if c.tenant_id == tenant_id), key=lambda c: (c.site_id, c.camera_id))
    current = [c for c in consents if c.tenant_id == tenant_id]
    findings: list[str] = []
    record: dict[str, Any] = {"tenant_id": tenant_id, "generated_at": now.isoformat()}

    # Controller, law and assessment (art. 30(1)(a); PIPL art. 55-56).
    if policy is None:
        findings.append("no tenant policy: the workers refuse this tenant's captures in production")
        record["policy"] = None
    else:
        pack, tenant = policy.pack, policy.tenant
        assessment = tenant.impact_assessment
        record["policy"] = {
            "version": policy.version,
            "pack": {"id": pack.id, "title": pack.title, "version": pack.version},
            "impact_assessment": None
            if assessment is None
            else {"reference": assessment.reference, "dated": assessment.dated.isoformat()},
            "notice_versions": _sorted(tenant.notice_versions),
            "legal_basis": pack.sources([Rule.SEPARATE_CONSENT, Rule.NOTICE, Rule.IMPACT_ASSESSMENT]),
        }
        if assessment is None and pack.require_impact_assessment:
            findings.append(f"pack {pack.id} requires an impact assessment; the policy names none")
        if policy.development:
            findings.append("development policy (no policy file): not a production record")

    # Categories of personal data and of data subjects (art. 30(1)(c)).
    granted = [c for c in current if c.status is ConsentStatus.GRANTED and (c.expires_at is None or c.expires_at > now)]
    images = any(c.image_retention_allowed for c in granted)
    record["data"] = {
        "categories": [
            "face templates (biometric data processed to identify a person: GDPR art. 9(1), PIPL art. 28 "
            "sensitive personal information)",
            "capture metadata: camera, site, time, purpose, quality",
            *(["face images, where a consent allows keeping them"] if images else []),
        ],
        "subjects": {
            "consenting": len(granted),
            "minors_consenting": sum(1 for c in granted if c.minor),
            "withdrawn": sum(1 for c in current if c.status is ConsentStatus.WITHDRAWN),
            "expired": sum(1 for c in current if c.status is ConsentStatus.GRANTED and c not in granted),
            "enrolled_templates": enrolled,
            "passers_by": "captured at the cameras below; never identified without a consent, "
            "their templates are stripped",
        },
    }

    record["purposes"], record["sites"] = _purposes_and_sites(policy, own_cameras, granted, findings)
    record["retention"] = _retention(policy, retention)
    record["recipients"], record["transfers"] = _recipients_and_transfers(tenant_id, policy, granted, findings)
    # Security measures (art. 30(1)(g), art. 32; PIPL art. 51).
    forwarded = policy is not None and policy.forward_protected_template
    record["security"] = [
        "templates protected with the tenant's key at enrollment (cancelable, not convertible between keys)",
        "subjects appear under keyed pseudonyms; raw templates never leave the raw topics",
        "every decision in a signed, append-only audit log (RFC 6962 trees, signed checkpoints)",
        *(["protected templates forwarded to the tenant (policy forward_protected_template)"] if forwarded else []),
    ]
    record["findings"] = findings
    return record


def _purposes_and_sites(
    policy: EffectivePolicy | None, own_cameras: list[CameraRegistration], granted: list[ConsentRecord],
    findings: list[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Purposes (art. 30(1)(b)), at which cameras and sites."""
    consented: Counter[Purpose] = Counter(p for c in granted for p in c.purposes)
    at_cameras: Counter[Purpose] = Counter(p for c in own_cameras for p in c.allowed_purposes)
    forbidden = set(policy.forbidden_purposes) if policy is not None else set()
    purposes = [
        {
            "purpose": str(purpose),
            "cameras": at_cameras.get(purpose, 0),
            "consenting_subjects": consented.get(purpose, 0),
            "forbidden_by_policy": purpose in forbidden,
        }
        for purpose in sorted(set(at_cameras) | set(consented), key=str)
    ]
    for purpose in sorted((set(at_cameras) | set(consented)) & forbidden, key=str):
        findings.append(f"purpose {purpose} is forbidden by the policy but named by cameras or consents: all blocked")
    sites: dict[str, list[CameraRegistration]] = {}
    for camera in own_cameras:
        sites.setdefault(camera.site_id, []).append(camera)
    located = [
        {
            "site_id": site,
            "regions": _sorted({c.region for c in group}),
            "location_types": _sorted({c.location_type for c in group}),
            "cameras": [
                {
                    "camera_id": c.camera_id,
                    "location_type": str(c.location_type),
                    "purposes": _sorted(c.allowed_purposes),
                    "signage_posted": c.signage_posted,
                }
                for c in group
            ],
        }
        for site, group in sorted(sites.items())
    ]
    if policy is not None:
        outside = sorted({c.region for c in own_cameras} - set(policy.pack.regions))
        if outside:
            findings.append(f"cameras in regions outside pack {policy.pack.id}'s ({', '.join(outside)})")
        unsigned = [c.camera_id for c in own_cameras if policy.require_signage and not c.signage_posted]
        if unsigned:
            findings.append(f"signage required but not posted at {len(unsigned)} camera(s): their captures are blocked")
    return purposes, located


def _retention(policy: EffectivePolicy | None, retention: StreamRetention) -> dict[str, str]:
    """Time limits for erasure (art. 30(1)(f))."""
    enrollments = "until the consent ends or is withdrawn"
    if policy is not None:
        limits = policy.retention
        enrollments = f"erased within {limits.purpose_end_grace_days} day(s) after the purpose ends"
        if limits.max_days_since_enrollment is not None:
            enrollments += f", and at most {limits.max_days_since_enrollment} day(s) after enrollment"
    return {
        "raw_captures": _duration(retention.raw_ms) + " on the raw topic (deleted from disk within about 1.2 times)",
        "raw_enrollments": _duration(retention.enroll_ms),
        "protected_templates": enrollments
        + f"; an erased template leaves the brokers' disks within {_duration(retention.erased_bound_ms)}",
        "governed_events": _duration(retention.governed_ms),
        "dead_letters": _duration(retention.rejected_ms) + " (biometrics removed)",
        "audit_and_erasure_notices": _duration(retention.audit_ms),
    }


def _recipients_and_transfers(
    tenant_id: str, policy: EffectivePolicy | None, granted: list[ConsentRecord], findings: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Recipients (art. 30(1)(d)) and transfers abroad (art. 30(1)(e); PIPL art. 38-39)."""
    named: Counter[str] = Counter(r for c in granted for r in c.recipients if r != tenant_id)
    agreements = policy.tenant.sharing_agreements if policy is not None else ()
    recipients: list[dict[str, Any]] = [
        {"recipient": f"{tenant_id} itself", "what": "governed events: pseudonyms, never raw templates"},
        *(
            {
                "recipient": a.recipient_tenant_id,
                "agreement": a.id,
                "purposes": _sorted(a.purposes),
                "regions": _sorted(a.regions),
                "impact_assessment": a.impact_assessment_reference,
                "consenting_subjects": named.get(a.recipient_tenant_id, 0),
            }
            for a in agreements
        ),
    ]
    agreed = {a.recipient_tenant_id for a in agreements}
    for recipient in sorted(set(named) - agreed):
        findings.append(f"{named[recipient]} consent(s) name recipient {recipient} with no sharing agreement")
    transfers: list[dict[str, Any]] = []
    if policy is not None:
        home = set(policy.pack.regions)
        for a in agreements:
            abroad = sorted(set(a.regions) - home)
            if not abroad:
                continue
            transfers.append(
                {"recipient": a.recipient_tenant_id, "agreement": a.id, "regions": abroad,
                 "mechanism": a.transfer_mechanism}
            )  # fmt: skip
            if a.transfer_mechanism is None and policy.pack.cross_border_requires_transfer_mechanism:
                findings.append(f"agreement {a.id} transfers to {', '.join(abroad)} without a transfer mechanism")
    return recipients, transfers


def processing_record(
    policies: Mapping[str, EffectivePolicy],
    cameras: Iterable[CameraRegistration],
    consents: Iterable[ConsentRecord],
    enrolled: Mapping[str, int],
    retention: StreamRetention,
    now: datetime,
    tenants: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Every tenant's record: those with a policy, a camera, a consent, a template or named in `tenants`."""
    cameras, consents = list(cameras), list(consents)
    known = set(policies) | {c.tenant_id for c in cameras} | {c.tenant_id for c in consents} | set(enrolled)
    return [
        tenant_record(t, policies.get(t), cameras, consents, enrolled.get(t, 0), retention, now)
        for t in sorted(known | set(tenants))
    ]


def to_markdown(records: list[dict[str, Any]]) -> str:
    """The records as a document for the controller's file (one section per tenant)."""
    lines = ["# Record of processing activities", "",
             "GDPR art. 30(1); PIPL art. 55-56. Generated by `facegate report processing` from the tenant "
             "policies, the camera registry, the consent ledger and the gateway's settings.", ""]  # fmt: skip
    for r in records:
        lines += [f"## {literal(r['tenant_id'])}", "", f"Generated {r['generated_at']}.", ""]
        policy = r["policy"]
        if policy is None:
            lines += ["- Policy: **none**", ""]
        else:
            pack, assessment = policy["pack"], policy["impact_assessment"]
            lines += [
                f"- Law: {pack['title']} (pack {pack['id']} {pack['version']}); policy {policy['version']}",
                "- Impact assessment: "
                + ("**none**" if assessment is None else f"{assessment['reference']}, dated {assessment['dated']}"),
                f"- Notices: {', '.join(policy['notice_versions']) or '**none**'}",
                f"- Legal basis: {'; '.join(policy['legal_basis']) or 'none cited'}",
                "",
            ]
        data = r["data"]
        lines += ["### Personal data and data subjects", "", *(f"- {c}" for c in data["categories"]), ""]
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in data["subjects"].items()] + [""]
        lines += ["### Purposes", "", "| purpose | cameras | consenting subjects | forbidden by policy |",
                  "|---|---:|---:|---|"]  # fmt: skip
        for p in r["purposes"]:
            forbidden = "yes" if p["forbidden_by_policy"] else ""
            lines.append(f"| {p['purpose']} | {p['cameras']} | {p['consenting_subjects']} | {forbidden} |")
        lines.append("")
        lines += ["### Sites and cameras", "", "| site | region | camera | location | purposes | signage |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for site in r["sites"]:
            for c in site["cameras"]:
                signage = "posted" if c["signage_posted"] else "none"
                lines.append(
                    f"| {literal(site['site_id'])} | {literal(', '.join(site['regions']))} | {literal(c['camera_id'])} "
                    f"| {c['location_type']} | {', '.join(c['purposes'])} | {signage} |"
                )
        lines += ["", "### Retention", ""]
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in r["retention"].items()] + [""]
        lines += ["### Recipients", ""]
        for rec in r["recipients"]:
            if "agreement" not in rec:
                lines.append(f"- {literal(rec['recipient'])}: {rec['what']}")
                continue
            lines.append(
                f"- {literal(rec['recipient'])} (agreement {rec['agreement']}): {', '.join(rec['purposes'])} in "
                f"{', '.join(rec['regions'])}; impact assessment {rec['impact_assessment'] or 'none'}; "
                f"{rec['consenting_subjects']} subject(s) consented"
            )
        lines += ["", "### Transfers abroad", ""]
        lines += [
            f"- to {literal(t['recipient'])} in {literal(', '.join(t['regions']))} (agreement {t['agreement']}): "
            f"mechanism {t['mechanism'] or '**none**'}"
            for t in r["transfers"]
        ] or ["- none"]
        lines += ["", "### Security measures", "", *(f"- {s}" for s in r["security"]), ""]
        lines += ["### Findings", "", *(f"- {literal(f)}" for f in r["findings"] or ["none"]), ""]
    return "\n".join(lines)
