"""The schema files hold the contract of docs/design.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.contract import vocabulary
from gateway.contract.schemas import NAMESPACE, RECORD_NAMES, SchemaSet, default_schema_dir

SCHEMAS = SchemaSet.load()

# Required fields per record, as docs/design.md lists them.
REQUIRED_BY_DESIGN = {
    "FaceCaptured": {"event_id", "camera_id", "tenant_id", "captured_at", "purpose", "template",
                     "template_model", "quality", "occlusion", "image", "age_estimate"},
    "CameraRegistration": {"camera_id", "tenant_id", "site_id", "location_type", "signage_posted",
                           "signage_evidence", "allowed_purposes", "region"},
    "ConsentRecord": {"tenant_id", "subject_id", "status", "purposes", "recipients", "separate", "method",
                      "notice_version", "granted_at", "expires_at", "minor", "guardian_consent"},
    "Enrollment": {"tenant_id", "subject_id", "template", "template_model"},
    "AuditRecord": {"audit_id", "event_id", "tenant_id", "camera_id", "decision", "rule_ids",
                    "policy_version", "recorded_at", "seq", "prev_hash", "hash", "signature", "key_id"},
}  # fmt: skip


def test_every_contract_record_is_present_in_the_namespace() -> None:
    assert set(SCHEMAS.records) == set(RECORD_NAMES)
    for record in SCHEMAS:
        assert record.fullname == f"{NAMESPACE}.{record.name}"


@pytest.mark.parametrize("name", sorted(REQUIRED_BY_DESIGN))
def test_design_fields_are_present(name: str) -> None:
    fields = {f["name"] for f in SCHEMAS[name].fields()}
    assert REQUIRED_BY_DESIGN[name] <= fields, REQUIRED_BY_DESIGN[name] - fields


def _types(schema: object) -> list[object]:
    return schema if isinstance(schema, list) else [schema]


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_every_optional_field_has_a_default(name: str) -> None:
    for field in SCHEMAS[name].fields():
        if "null" in _types(field["type"]):
            assert "default" in field and field["default"] is None, field["name"]
            assert _types(field["type"])[0] == "null", f"{field['name']}: null must come first for a null default"


def test_decisions_and_purposes_are_the_designed_vocabulary() -> None:
    audit_decision = next(f for f in SCHEMAS["AuditRecord"].fields() if f["name"] == "decision")["type"]
    assert audit_decision["symbols"] == [
        "FORWARDED", "STRIPPED", "BLOCKED", "REJECTED", "SHARED", "SHARE_BLOCKED", "ERASED", "ENROLLED",
        "CONSENT_RECORDED",
    ]  # fmt: skip
    purpose = json.loads((default_schema_dir() / "Purpose.avsc").read_text())
    assert "COMMISSION_ATTRIBUTION" in purpose["symbols"] and "PRICING" in purpose["symbols"]
    assert len(purpose["symbols"]) == 12 and purpose["symbols"][-1] == purpose["default"] == "UNKNOWN"


@pytest.mark.parametrize(
    "enum",
    [vocabulary.Purpose, vocabulary.Decision, vocabulary.Occlusion, vocabulary.LocationType,
     vocabulary.ConsentStatus, vocabulary.ConsentMethod],
)  # fmt: skip
def test_python_vocabulary_matches_the_schema_symbols(enum: type) -> None:
    symbols = json.loads((default_schema_dir() / f"{enum.__name__}.avsc").read_text())["symbols"]
    assert [member.value for member in enum] == symbols  # type: ignore[attr-defined]


def test_fingerprints_are_distinct_and_eight_bytes() -> None:
    prints = [r.fingerprint for r in SCHEMAS]
    assert all(len(p) == 8 for p in prints)
    assert len(set(prints)) == len(prints)


def test_documentation_does_not_change_the_fingerprint(tmp_path: Path) -> None:
    for path in default_schema_dir().glob("*.avsc"):
        data = json.loads(path.read_text())
        data["doc"] = "reworded"
        (tmp_path / path.name).write_text(json.dumps(data))
    reworded = SchemaSet.load(tmp_path)
    assert {r.name: r.fingerprint for r in reworded} == {r.name: r.fingerprint for r in SCHEMAS}
