"""The CLI's one convention (docs/cli.md): --format where a command prints data, --out for files,
data on stdout and notes on stderr, old flags as hidden deprecated aliases, documented exit
codes, and a refused principal told which role a command needs. Kafka is replaced by fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer.main
from aiokafka.errors import TopicAuthorizationFailedError
from typer.testing import CliRunner

import gateway.cli.access
import gateway.cli.audit
import gateway.cli.consent
from gateway.cli import app
from gateway.cli.output import Exit
from gateway.contract.models import ConsentRecord
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.state import ConsentVersion, Standing
from gateway.sdk.scenario import Traffic, World
from tests.support.cli import command_paths

ROLES = "gateway: User:gw\nvendors: {lumen: User:v}\ntenants: {acme: User:acme}\nregulators: [User:reg]\n"
# Commands that print data, and the formats each offers.
FORMATS = {
    ("acl", "plan"): "[table|json]",
    ("acl", "apply"): "[table|json]",
    ("audit", "verify"): "[table|json]",
    ("audit", "tail"): "[table|json]",
    ("audit", "report"): "[markdown|html|json]",
    ("audit", "reconcile"): "[table|json]",
    ("consent", "show"): "[table|json]",
    ("subject", "export"): "[table|json]",
    ("report", "processing"): "[markdown|json]",
    ("eval", "protection"): "[table|json]",
    ("schemas", "list"): "[table|json]",
    ("topics", "create"): "[table|json]",
    ("topics", "describe"): "[table|json]",
    ("simulate",): "[table|json]",
}


def _leaves() -> list[tuple[str, ...]]:
    command = typer.main.get_command(app)
    leaves = []
    for path in command_paths(command):
        node: Any = command
        for name in path:
            node = node.commands[name]
        if path and not hasattr(node, "commands"):
            leaves.append(path)
    return leaves


@pytest.mark.parametrize("path", _leaves(), ids=" ".join)
def test_every_command_documents_its_exit_codes_role_and_formats(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Exit codes: 0 ok;" in text and "2 usage or configuration error" in text, path
    assert "Role:" in text, path
    assert ("--format" in text) == (path in FORMATS), path
    if path in FORMATS:
        assert FORMATS[path] in text and "--out" in text, path
    assert "--json" not in text, "deprecated aliases are hidden"


def test_every_command_that_prints_data_is_listed() -> None:
    assert set(FORMATS) <= set(_leaves())


def test_json_goes_to_stdout_alone_and_tables_to_out(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["schemas", "list", "--format", "json"])
    assert listed.exit_code == 0 and listed.stderr == ""
    records = json.loads(listed.stdout)
    assert {"record", "fingerprint", "fields"} == set(records[0])
    out = tmp_path / "schemas.txt"
    written = runner.invoke(app, ["schemas", "list", "--out", str(out)])
    assert written.exit_code == 0 and written.stdout == "" and str(out) in written.stderr
    assert records[0]["fingerprint"] in out.read_text() and "\x1b[" not in out.read_text()


def test_acl_plan_as_json(tmp_path: Path) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text(ROLES)
    result = CliRunner().invoke(app, ["acl", "plan", "--roles", str(roles), "--format", "json"])
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)
    assert {"principal": "User:reg", "resource": "TOPIC", "pattern": "LITERAL", "name": "facegate.audit",
            "operation": "READ"} in rules  # fmt: skip


def test_a_format_a_command_does_not_offer_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schemas", "list", "--format", "html"])
    assert result.exit_code == Exit.USAGE and "not one of table, json" in result.output


@pytest.fixture
def one_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    record = ConsentRecord(
        tenant_id="acme", subject_id="s-1", status=ConsentStatus.GRANTED, purposes=[Purpose.ACCESS_CONTROL],
        separate=True, method=ConsentMethod.ELECTRONIC, notice_version="v1", granted_at=datetime.now(UTC),
    )  # fmt: skip
    applied = ConsentVersion(Standing.APPLIED, record)
    monkeypatch.setattr(gateway.cli.consent, "consent_versions", lambda *_: [applied])


def test_consent_show_formats_and_the_deprecated_json_flag(one_consent: None, tmp_path: Path) -> None:
    runner = CliRunner()
    who = ["consent", "show", "--tenant", "acme", "--subject", "s-1"]
    table = runner.invoke(app, who)
    assert table.exit_code == 0 and "ACCESS_CONTROL" in table.stdout and table.stderr == ""
    new = runner.invoke(app, [*who, "--format", "json"])
    assert new.exit_code == 0 and json.loads(new.stdout)[0]["status"] == "GRANTED" and new.stderr == ""
    old = runner.invoke(app, [*who, "--json"])
    assert old.exit_code == 0 and json.loads(old.stdout) == json.loads(new.stdout)
    assert "deprecated" in old.stderr and "--format json" in old.stderr
    out = tmp_path / "consent.json"
    assert runner.invoke(app, [*who, "--format", "json", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == json.loads(new.stdout)


def test_audit_report_reads_the_old_md_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.cli.audit, "_entries_from_topic", lambda *_: [])
    runner = CliRunner()
    new = runner.invoke(app, ["audit", "report", "--format", "markdown"])
    assert new.exit_code == 0 and new.stdout.startswith("# FaceGate audit report") and new.stderr == ""
    old = runner.invoke(app, ["audit", "report", "--format", "md"])
    assert old.exit_code == 0 and old.stdout == new.stdout
    assert "deprecated" in old.stderr and "--format markdown" in old.stderr


def test_eval_protection_keeps_the_old_json_flag(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "protection", "--people", "200", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "TAR @ FAR 1e-4" in result.stdout  # tables printed, as before
    assert json.loads(out.read_text())[0]["people"] == 200
    assert "deprecated" in result.stderr and "--format json --out FILE" in result.stderr


def _refuse(*_: object, **__: object) -> Any:
    raise TopicAuthorizationFailedError("facegate.faces.raw.lumen")


def test_reconcile_as_a_regulator_names_the_gateway_role(monkeypatch: pytest.MonkeyPatch) -> None:
    """Describe allowed, Read denied: the fetch is refused."""
    monkeypatch.setattr(gateway.cli.access, "read_topic", _refuse)
    env = {"FACEGATE_SASL_USERNAME": "regulator", "FACEGATE_VENDORS": '["lumen"]'}
    result = CliRunner().invoke(app, ["audit", "reconcile"], env=env)
    assert result.exit_code == Exit.KAFKA
    text = " ".join(result.stderr.split())
    assert "not authorized" in text and "User:regulator" in text and "facegate.faces.raw.lumen" in text
    assert "`facegate audit reconcile` is the gateway role's command" in text


def test_a_topic_hidden_from_the_principal_is_not_called_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Describe ACL: the topic is absent from the metadata, which read_topic calls missing."""

    async def hidden(*_: object) -> Any:
        raise LookupError("topic facegate.faces.raw.lumen does not exist: run `facegate topics create`")

    async def described(*_: object, **__: object) -> bool | None:
        return None  # hidden

    monkeypatch.setattr(gateway.cli.access, "read_topic", hidden)
    monkeypatch.setattr(gateway.cli.access, "_visible", described)
    monkeypatch.setenv("FACEGATE_VENDORS", '["lumen"]')
    result = CliRunner().invoke(app, ["audit", "reconcile"])
    assert result.exit_code == Exit.KAFKA
    assert "gateway role" in result.stderr and "does not exist" not in result.stderr

    async def missing(*_: object, **__: object) -> bool | None:
        return False

    monkeypatch.setattr(gateway.cli.access, "_visible", missing)
    result = CliRunner().invoke(app, ["audit", "reconcile"])
    assert result.exit_code == Exit.KAFKA and "does not exist" in result.stderr


def test_a_write_to_a_missing_topic_says_so_at_once_and_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A producer waits 40 s for a missing topic's metadata, its client logging each retry."""
    sent: list[object] = []

    async def missing(*_: object, **__: object) -> bool | None:
        return False

    monkeypatch.setattr(gateway.cli.access, "_visible", missing)
    monkeypatch.setattr(gateway.cli.access, "run", lambda *args: sent.append(args))
    grant = [
        "consent",
        "grant",
        "--tenant",
        "delta",
        "--subject",
        "s-1",
        "--purpose",
        "ACCESS_CONTROL",
        "--notice",
        "v1",
    ]
    result = CliRunner().invoke(app, grant)
    assert result.exit_code == Exit.KAFKA and sent == []
    text = " ".join(result.stderr.split())
    assert "topic facegate.consent.delta does not exist" in text and "`facegate topics create -t delta`" in text


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "export", "--out", "x.jsonl"],
        ["simulate", "--count", "1"],  # writers too: no traceback, exit 3
        ["consent", "grant", "--tenant", "acme", "--subject", "s-1", "--purpose", "ACCESS_CONTROL", "--notice", "v1"],
    ],
    ids=["reader", "simulate", "consent-grant"],
)
def test_unreachable_kafka_exits_3(command: list[str]) -> None:
    result = CliRunner().invoke(app, command, env={"FACEGATE_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.exit_code == Exit.KAFKA, result.output
    assert "cannot reach Kafka at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.output


def test_the_regulators_default_tail_group_is_one_its_acls_allow() -> None:
    from gateway.settings import Settings

    assert gateway.cli.audit._default_group(Settings(sasl_username="regulator")).startswith("regulator-")


def test_reconcile_without_a_vendor_refuses_to_check_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEGATE_VENDORS", raising=False)
    result = CliRunner().invoke(app, ["audit", "reconcile"])
    assert result.exit_code == Exit.USAGE and "FACEGATE_VENDORS" in result.stderr


@pytest.mark.parametrize("command", ["pubkey", "keyset"])
def test_production_hands_regulators_only_the_configured_keyrings_signing_keys(command: str, tmp_path: Path) -> None:
    # Without a keyring, a development one would be made and its key handed over: whoever holds its
    # file on this host could then sign checkpoints the regulators accept.
    env = {"FACEGATE_ENV": "production", "FACEGATE_CACHE_DIR": str(tmp_path), "FACEGATE_KEYRING": "",
           "FACEGATE_KEYRING_FILE": ""}  # fmt: skip
    refused = CliRunner().invoke(app, ["audit", command], env=env)
    assert refused.exit_code == Exit.USAGE and "missing: a keyring" in refused.stderr
    assert not (tmp_path / "development-keyring").exists()
    development = CliRunner().invoke(app, ["audit", command], env={**env, "FACEGATE_ENV": "development"})
    assert development.exit_code == 0, development.output


def test_each_simulate_run_sends_new_captures_unless_told_a_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker drops a capture id it decided before: a second run with the old fixed seed decided nothing."""
    import gateway.cli.simulate as simulate

    first: list[str] = []
    monkeypatch.setattr(simulate, "write", lambda settings, command, role, topic, go: {})
    monkeypatch.setattr(simulate, "run_traffic", None)  # never reached: `write` sends nothing here

    def recorded(world: World, seed: int | None = None) -> Traffic:
        first.append(next(c.capture.event_id for c in Traffic(world, seed).take(20) if c.capture is not None))
        return Traffic(world, seed)

    monkeypatch.setattr(simulate, "Traffic", recorded)
    runs = [CliRunner().invoke(app, ["simulate", "--count", "1"]) for _ in range(2)]
    runs.append(CliRunner().invoke(app, ["simulate", "--count", "1", "--traffic-seed", "7"]))
    runs.append(CliRunner().invoke(app, ["simulate", "--count", "1", "--traffic-seed", "7"]))
    assert all(r.exit_code == 0 for r in runs), [r.output for r in runs]
    assert first[0] != first[1] and first[2] == first[3]
    assert "traffic seed" in runs[0].stderr and "traffic seed" not in runs[2].stderr
