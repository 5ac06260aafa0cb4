"""docs/vendors.md states what the code does: its worked example is the SDK's bytes, its
fingerprints are the contract's, its topics and keys are the SDK's, and the Java project (and
the doc's copy of its plugin configuration) imports every enum schema of the repository."""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import facegate_sdk
from facegate_sdk import FaceCaptured, Occlusion, Purpose, Topics

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "vendors.md").read_text()
CONTRACT = facegate_sdk.default_contract()
POM = ROOT / "producers" / "java" / "pom.xml"


def test_the_worked_example_is_what_the_sdk_writes() -> None:
    [example] = re.findall(r"<!-- example: FaceCaptured -->\n```\n([0-9a-f]+)\n```", DOC)
    capture = FaceCaptured(
        event_id="evt-1", camera_id="cam-1", tenant_id="acme", captured_at=datetime(2026, 11, 26, 9, tzinfo=UTC),
        purpose=Purpose.ACCESS_CONTROL, template=struct.pack("<2f", 1.0, -0.5), template_model="synthetic-512",
        quality=0.9, occlusion=Occlusion.NONE, age_estimate=34,
    )  # fmt: skip
    encoded = CONTRACT.encode(capture)
    assert example == encoded.hex()
    assert f"these {len(encoded)} bytes" in DOC


def test_the_fingerprints_are_the_contracts() -> None:
    table = DOC.split("<!-- fingerprints -->", 1)[1].split("\n\n", 1)[0]
    documented = dict(re.findall(r"^\| `(\w+)` \| `([0-9a-f]{16})` \|$", table, re.M))
    assert documented == {name: CONTRACT[name].fingerprint.hex() for name in facegate_sdk.PRODUCED}


def test_topics_and_keys_are_the_sdks() -> None:
    topics = Topics()
    for topic in (topics.cameras("T"), topics.consent("T"), topics.enroll("T"), topics.share_requests("T")):
        assert f"`{topic.removesuffix('.T')}.<tenant>`" in DOC
    assert f"`{topics.captures('V').removesuffix('.V')}.<vendor>`" in DOC and f"`{topics.rejected}`" in DOC
    assert facegate_sdk.subject_key("acme", "customer-002") == "acme/customer-002" and "`acme/customer-002`" in DOC


def _enum_files() -> set[str]:
    return {p.name for p in (ROOT / "schemas").glob("*.avsc") if json.loads(p.read_text())["type"] == "enum"}


def test_the_java_project_imports_every_enum_schema_before_the_records() -> None:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    imports = [e.text or "" for e in ET.parse(POM).getroot().iterfind(".//m:imports/m:import", ns)]
    assert {Path(i).name for i in imports} == _enum_files()
    assert all(i.startswith("${facegate.schemas}/") for i in imports)
    documented = re.findall(r"<import>\$\{project\.basedir\}/\.\./\.\./schemas/(\w+\.avsc)</import>", DOC)
    assert set(documented) == _enum_files()
