"""Citations per pack (issue 16): each rule's legal sources come from the tenant's pack, and every
audit record names the pack and its version. The packs carry docs/legal-citations.md's YAML block."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from gateway.contract.models import AuditRecord, CameraRegistration, FaceCaptured
from gateway.contract.vocabulary import LocationType, Occlusion, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.messages import InputRecord
from gateway.core.policy.rules import Rule
from gateway.core.records import NO_POLICY
from gateway.files.packs import load_pack, pack_ids
from tests.support.core import CODEC, NAMES, NOW, decide_batch
from tests.support.lifecycle import new_state, policy_for

ROOT = Path(__file__).resolve().parents[3]
FOREIGN = {
    "pipl-cn": ("GDPR", "AI Act", "ILCS", "Tex."),
    "gdpr-eu": ("PIPL", "CAC", "SPC", "GB/T", "ILCS", "Tex."),
    "bipa-il": ("PIPL", "CAC", "SPC", "GB/T", "GDPR", "AI Act", "Tex."),
    "cubi-tx": ("PIPL", "CAC", "SPC", "GB/T", "GDPR", "AI Act", "ILCS"),
}
# What a stranger's capture (R01 no match, R08 protection) and a capture for sale (R06, R16) cite.
EXPECTED = {
    "pipl-cn": {
        "stranger": ["R01: PIPL Art. 28(1)", "R01: PIPL Art. 29 [legal review]", "R08: PIPL Art. 51(3)"],
        "sale": ["R06: PIPL Art. 24(1)", "R16: PIPL Art. 10 [legal review]"],
    },
    "gdpr-eu": {
        "stranger": ["R01: GDPR Art. 9(1)", "R01: GDPR Art. 9(2)(a)", "R08: GDPR Art. 32(1)(a)"],
        "sale": ["R06: GDPR Art. 5(1)(b) [legal review]"],
    },
    "bipa-il": {
        "stranger": ["R01: 740 ILCS 14/15(b)(3)", "R08: 740 ILCS 14/15(e)(1)-(2) [legal review]"],
        "sale": ["R06: 740 ILCS 14/15(b)(2)", "R16: 740 ILCS 14/15(c)"],
    },
    "cubi-tx": {
        "stranger": ["R01: Tex. Bus. & Com. Code §503.001(b)(1)-(2)", "R08: Tex. Bus. & Com. Code §503.001(c)(2)"],
        "sale": ["R16: Tex. Bus. & Com. Code §503.001(c)(1)"],
    },
}


def _doc_block() -> dict[str, dict[str, list[dict[str, object]]]]:
    text = (ROOT / "docs" / "legal-citations.md").read_text()
    match = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert match is not None
    loaded: dict[str, dict[str, list[dict[str, object]]]] = yaml.safe_load(match.group(1))
    return loaded


def test_every_pack_carries_the_citations_of_the_research() -> None:
    block = _doc_block()
    assert set(block) == set(pack_ids())
    for pack_id, rules in block.items():
        pack = load_pack(pack_id)
        assert {rule.value: [c.model_dump(exclude_none=True) for c in cites] for rule, cites in pack.legal_sources.items()} == {
            rule: [{k: v for k, v in c.items() if v is not None} for c in cites] for rule, cites in rules.items()
        }, pack_id  # fmt: skip


def test_a_pack_must_name_every_rule() -> None:
    from gateway.core.policy.pack import PolicyError, parse_pack

    text = (ROOT / "gateway/files/packs/bipa-il.yaml").read_text()
    broken = re.sub(r"\n  R19: \[\]", "", text)
    with pytest.raises((PolicyError, ValueError), match="missing R19"):
        parse_pack(broken, "bipa-il.yaml")


def _capture(event_id: str, purpose: Purpose) -> FaceCaptured:
    vector = np.random.default_rng(5).standard_normal(512).astype(np.float32)
    return FaceCaptured(
        event_id=event_id, camera_id="cam", tenant_id="acme", captured_at=NOW - timedelta(minutes=1),
        purpose=purpose, template=to_bytes(vector / np.linalg.norm(vector)), template_model="synthetic-512",
        quality=0.9, occlusion=Occlusion.NONE,
    )  # fmt: skip


@pytest.mark.parametrize("pack_id", sorted(EXPECTED))
def test_audit_records_cite_the_tenants_pack(pack_id: str) -> None:
    state = new_state()
    state.policies = {"acme": policy_for("acme", pack=pack_id)}
    camera = CameraRegistration(
        camera_id="cam", tenant_id="acme", site_id="site", location_type=LocationType.RETAIL, signage_posted=True,
        allowed_purposes=[Purpose.REPEAT_VISITOR_RECOGNITION, Purpose.SALE], region="X", vendor_id="lumen",
    )  # fmt: skip
    state.apply_camera("acme", "cam", CODEC.encode(camera))
    captures = {
        "stranger": _capture("e-stranger", Purpose.REPEAT_VISITOR_RECOGNITION),
        "sale": _capture("e-sale", Purpose.SALE),
    }
    records = [InputRecord(NAMES.captures("lumen"), 0, i, CODEC.encode(c)) for i, c in enumerate(captures.values())]
    result = decide_batch(records, state)
    audits = {
        a.event_id: a
        for a in (CODEC.decode(o.value or b"", AuditRecord) for o in result.outputs if o.topic == NAMES.audit)
    }
    pack = load_pack(pack_id)
    for kind, capture in captures.items():
        audit = audits[capture.event_id]
        assert (audit.pack_id, audit.pack_version) == (pack.id, pack.version)
        assert audit.policy_version.startswith(f"{pack.id}@{pack.version}/")
        assert audit.legal_sources == pack.sources(Rule(r) for r in audit.rule_ids)
        assert set(EXPECTED[pack_id][kind]) <= set(audit.legal_sources), (kind, audit.legal_sources)
        assert all(s.split(":")[0] in audit.rule_ids for s in audit.legal_sources)
        assert not [s for s in audit.legal_sources if any(law in s for law in FOREIGN[pack_id])]


def test_a_record_without_a_pack_cites_nothing() -> None:
    state = new_state()
    state.policies = {}
    capture = _capture("e-none", Purpose.REPEAT_VISITOR_RECOGNITION)
    result = decide_batch([InputRecord(NAMES.captures("lumen"), 0, 0, CODEC.encode(capture))], state)
    (audit,) = [CODEC.decode(o.value or b"", AuditRecord) for o in result.outputs if o.topic == NAMES.audit]
    assert audit.policy_version == NO_POLICY
    assert (audit.pack_id, audit.pack_version, audit.legal_sources) == (None, None, [])
