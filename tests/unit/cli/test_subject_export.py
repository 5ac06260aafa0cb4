"""`facegate subject export` gives what 0.3.0 called an own subject `<x>/<id>` only when <x> is
no tenant the gateway serves or served: for a served <x> it is the pseudonym a recipient holds for
<x>'s shared subject <id>, so it would confirm a guess of <x>'s subject ids (no broker: the topic
reads are faked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord
from typer.testing import CliRunner

import gateway.cli.consent as consent_cli
import gateway.cli.subject as subject_cli
from gateway.cli import app
from gateway.cli.subject import WITHHELD
from gateway.keyring import Keyring
from gateway.settings import Settings
from gateway.shell.runtime import build_runtime


@pytest.fixture
def enrolled_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The keys on the enrolled topic (values are not read for another subject); FACEGATE_TENANTS=partner."""
    monkeypatch.setenv("FACEGATE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FACEGATE_TENANTS", '["partner"]')
    keys: list[str] = []

    def read(settings: Settings, name: str, command: str, role: object) -> list[ConsumerRecord[bytes, bytes]]:
        found = keys if name.endswith("enrolled") else []
        return [ConsumerRecord(name, 0, n, 0, 0, k.encode(), None, None, 0, 0, []) for n, k in enumerate(found)]

    monkeypatch.setattr(subject_cli, "read", read)
    monkeypatch.setattr(consent_cli, "read", lambda *_: [])
    return keys


def export(subject: str, tenant: str = "partner") -> dict[str, object]:
    args = ["subject", "export", "--tenant", tenant, "--subject", subject, "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def shared_pseudonym(recipient: str, sender: str, subject: str) -> str:
    return build_runtime(Settings()).state.recipient_pseudonym(recipient, sender, subject)


@pytest.mark.parametrize("served_as", ["configured", "enrolled"])
def test_an_own_id_naming_a_served_tenant_gets_no_former_pseudonym(
    enrolled_keys: list[str], served_as: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # partner enrolls its own "acme/cust-4711" to learn whether acme has a subject cust-4711.
    if served_as == "configured":
        monkeypatch.setenv("FACEGATE_TENANTS", '["partner", "acme"]')
    else:
        enrolled_keys.append("acme/cust-9")  # acme holds enrollments: served
    report = export("acme/cust-4711")
    shared = shared_pseudonym("partner", "acme", "cust-4711")
    assert report["former_tenant_pseudonym"] is None and report["former_tenant_pseudonym_withheld"] == WITHHELD
    assert shared not in json.dumps(report)


def test_an_own_id_naming_no_served_tenant_keeps_its_former_pseudonym(enrolled_keys: list[str]) -> None:
    for subject in ("zeta/cust-1", "partner/cust-1"):  # no such tenant; the tenant itself shares with no one
        report = export(subject)
        expected = build_runtime(Settings()).state.former_tenant_pseudonym("partner", subject)
        assert report["former_tenant_pseudonym"] == expected and expected is not None
        assert "former_tenant_pseudonym_withheld" not in report
    assert export("cust-1")["former_tenant_pseudonym"] is None


def test_the_table_says_why_it_is_withheld(enrolled_keys: list[str]) -> None:
    enrolled_keys.append("acme/cust-9")
    result = CliRunner().invoke(app, ["subject", "export", "--tenant", "partner", "--subject", "acme/c-1"])
    assert result.exit_code == 0 and f"withheld, {WITHHELD}" in result.stdout, result.output


def test_a_keyring_tenant_is_served(enrolled_keys: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = Keyring.generate(["partner", "acme"])
    monkeypatch.setenv("FACEGATE_KEYRING", keyring.export())
    assert export("acme/cust-4711")["former_tenant_pseudonym_withheld"] == WITHHELD


def test_a_subject_of_a_tenant_without_keys_still_gets_a_report(
    enrolled_keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review s47: an offboarded tenant's keys leave the keyring, its subjects' right of access
    stays (their decisions stay in the audit); the export ended in a MissingKeyError."""
    monkeypatch.setenv("FACEGATE_KEYRING", Keyring.generate(["acme"]).export())
    report = export("cust-1", tenant="partner")
    assert report["tenant_pseudonym"] is None and report["tenant_pseudonyms_held"] == []
    assert report["former_tenant_pseudonym"] is None
    table = CliRunner().invoke(app, ["subject", "export", "--tenant", "partner", "--subject", "cust-1"])
    assert table.exit_code == 0 and "no pseudonym key" in table.stdout, table.output
