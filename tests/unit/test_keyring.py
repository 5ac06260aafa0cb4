"""The keyring loads from a file or the environment and never shows a secret."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli import app
from gateway.keyring import (
    AUDIT_SIGNING_FILE_VARIABLE,
    KEYRING_FILE_VARIABLE,
    KEYRING_VARIABLE,
    Keyring,
    KeyringError,
    MissingKeyError,
)
from tests.support.cli import restored_logging  # noqa: F401  # a fixture
from tests.support.leaks import LeakFinder, exception_chain, keyring_keys


def _secrets(keyring: Keyring) -> list[bytes]:
    found = [keyring.regulator_key()[1], keyring.signing_key()[1].private_bytes_raw()]
    for tenant in keyring.tenants:
        found += [keyring.protection_key(tenant)[1], keyring.pseudonym_key(tenant)[1]]
    return found


def _leaks(text: str, secrets: list[bytes]) -> bool:
    return any(s.hex() in text or base64.b64encode(s).decode() in text or repr(s) in text for s in secrets)


def test_generated_keyring_round_trips_and_hides_secrets() -> None:
    keyring = Keyring.generate(["acme", "beta"])
    loaded = Keyring.from_text(keyring.export())
    assert loaded.protection_key("acme") == keyring.protection_key("acme")
    assert loaded.signing_key()[0] == keyring.signing_key()[0]
    assert keyring.protection_key("acme") != keyring.protection_key("beta")
    assert not _leaks(repr(keyring) + str(keyring) + repr(keyring.tenants["acme"]), _secrets(keyring))
    assert loaded.missing_for_production(["acme"]) == []
    assert loaded.missing_for_production(["gamma"]) == ["keys for tenant 'gamma'"]


def test_errors_name_the_field_not_the_value() -> None:
    raw = b"a-short-secret-value"
    secret = base64.b64encode(raw).decode()
    document = {"regulator_pseudonym": {"current": 1, "versions": {"1": secret}}}
    with pytest.raises(KeyringError) as caught:
        Keyring.from_text(json.dumps(document))
    assert "regulator_pseudonym" in str(caught.value) and secret not in str(caught.value)
    # Nor what it decodes to: the check of its size has it, and a message may quote it in any form.
    shown = {"str": str(caught.value).encode(), "repr": repr(caught.value).encode()}
    assert LeakFinder([], [], [raw]).leaks(shown) == []
    with pytest.raises(MissingKeyError, match="tenant 'nobody'"):
        Keyring.generate(["acme"]).protection_key("nobody")


@pytest.mark.parametrize("written", [base64.b64encode, base64.urlsafe_b64encode, lambda k: k.hex().encode()])
@pytest.mark.parametrize(
    "place",
    [
        lambda k: {"regulator_pseudonym": {"current": 1, "versions": {"1": k, k: k}}},  # a version number left out
        lambda k: {"tenants": {"acme": {**json.loads(Keyring.generate(["acme"]).export())["tenants"]["acme"], k: 1}}},
    ],
)
def test_a_key_pasted_where_a_name_belongs_is_not_printed(place: Any, written: Any) -> None:
    # The location of an error names the document's keys; a hand edit may have made one of a key,
    # in any form a key is written in (hex and URL-safe base64 look like tenant ids).
    key = written(bytes(range(32))).decode().rstrip("=")
    with pytest.raises(KeyringError) as caught:
        Keyring.from_text(json.dumps(place(key)))
    message = str(caught.value)
    assert key not in message and f"<{hashlib.sha256(key.encode()).hexdigest()[:6]}>" in message
    if "tenants" in message:  # a tenant is found by the digest of its id
        assert f"tenants.<{hashlib.sha256(b'acme').hexdigest()[:6]}>" in message


def test_no_error_carries_a_key_in_its_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `raise ... from None` hides the error caught from tracebacks only: it stays __context__
    # (pydantic's with the key as input_value, PyYAML's with a snippet of the key's line) for any
    # reporter that walks the chain.
    raw = bytes.fromhex("fbffbf" * 10 + "feff")  # standard base64 with + and /: "+/+/..."
    key, url_safe, short = (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
                            base64.b64encode(raw[:31]).decode())  # fmt: skip
    documents = {
        "a key written URL-safe": {"regulator_pseudonym": {"current": 1, "versions": {"1": url_safe}}},
        "a key one byte short": {"regulator_pseudonym": {"current": 1, "versions": {"1": short}}},
        "a key under a misspelt field": {
            "regulator_pseudonym": {"current": 1, "versions": {"1": key}, "revoke_afterr": {"1": key}}
        },
    }
    texts = {name: json.dumps(document) for name, document in documents.items()}
    texts["a YAML slip on the key's line"] = f"regulator_pseudonym:\n  current: 1\n  versions:\n    1: {key}: oh\n"
    finder = LeakFinder([], [], [raw, raw[:31]])
    for name, text in texts.items():
        with pytest.raises(KeyringError) as caught:
            Keyring.from_text(text)
        assert caught.value.__context__ is None, name
        assert finder.leaks(exception_chain(caught.value)) == [], name
    # The audit signing entry of its own file, with the same slip
    (tmp_path / "keyring.json").write_text(Keyring.generate(["acme"]).export())
    (tmp_path / "signing.yaml").write_text(f"current: 1\nversions:\n  1: {key}: oh\n")
    monkeypatch.delenv(KEYRING_VARIABLE, raising=False)
    monkeypatch.setenv(KEYRING_FILE_VARIABLE, str(tmp_path / "keyring.json"))
    monkeypatch.setenv(AUDIT_SIGNING_FILE_VARIABLE, str(tmp_path / "signing.yaml"))
    with pytest.raises(KeyringError) as caught:
        Keyring.from_environment()
    assert caught.value.__context__ is None and finder.leaks(exception_chain(caught.value)) == []


def test_development_keyring_derives_stable_keys(tmp_path: Path) -> None:
    path = tmp_path / "dev.key"
    first = Keyring.development_keyring(path)
    again = Keyring.development_keyring(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert first.protection_key("any-tenant") == again.protection_key("any-tenant")
    assert first.protection_key("a") != first.protection_key("b")
    assert first.protection_key("a") != first.pseudonym_key("a")
    other = Keyring.development_keyring(tmp_path / "other.key")  # derivations are cached: by master too
    assert other.protection_key("a") != first.protection_key("a")
    assert first.protection_key("a", 2)[1] != first.protection_key("a")[1]
    assert "a production keyring" in first.missing_for_production([])[0]


def test_environment_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = Keyring.generate(["acme"]).export()
    monkeypatch.delenv(KEYRING_FILE_VARIABLE, raising=False)
    monkeypatch.delenv(KEYRING_VARIABLE, raising=False)
    assert Keyring.from_environment() is None
    (tmp_path / "k.json").write_text(document)
    monkeypatch.setenv(KEYRING_FILE_VARIABLE, str(tmp_path / "k.json"))
    from_file = Keyring.from_environment()
    monkeypatch.setenv(KEYRING_VARIABLE, document)
    from_variable = Keyring.from_environment()
    assert from_file is not None and from_variable is not None
    assert from_file.protection_key("acme") == from_variable.protection_key("acme")


KEYRING_COMMANDS = [
    ["run"],
    ["subject", "export", "--tenant", "acme", "--subject", "s-1"],
    ["audit", "keyset"],
    ["audit", "pubkey"],
]


@pytest.mark.usefixtures("restored_logging")  # `facegate run` configures logging before it reads the keyring
@pytest.mark.parametrize("command", KEYRING_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("put", ["keyring", "signing entry"])
def test_a_keyring_put_where_its_path_belongs_is_not_printed(command: list[str], put: str, tmp_path: Path) -> None:
    # A Secret mounted as an environment variable under the _FILE name: the error reading the
    # "file" quoted it, the whole document; run and subject export printed it, audit's a traceback.
    keyring = Keyring.generate(["acme"])
    env: dict[str, str | None] = {
        "FACEGATE_ENV": "production", "FACEGATE_CACHE_DIR": str(tmp_path), KEYRING_VARIABLE: None,
        AUDIT_SIGNING_FILE_VARIABLE: None, "FACEGATE_TENANTS": '["acme"]', "FACEGATE_VENDORS": '["lumen"]',
    }  # fmt: skip
    if put == "keyring":
        variable, env[KEYRING_FILE_VARIABLE] = KEYRING_FILE_VARIABLE, keyring.export()
    else:
        document = json.loads(keyring.export())
        signing = document.pop("audit_signing")
        (tmp_path / "keyring.json").write_text(json.dumps(document))
        env[KEYRING_FILE_VARIABLE] = str(tmp_path / "keyring.json")
        variable, env[AUDIT_SIGNING_FILE_VARIABLE] = AUDIT_SIGNING_FILE_VARIABLE, json.dumps(signing, indent=2)
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    said = " ".join(result.output.split())  # the console wraps long lines
    assert f"{variable} does not name a readable file" in said and "it looks like the" in said, said
    if put == "keyring":
        assert f"put that in {KEYRING_VARIABLE}" in said
    assert LeakFinder([], [], keyring_keys(keyring.export())).leaks({"output": result.output.encode()}) == []


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "add", "-t", "beta", "--keyring"],
        ["keys", "rotate", "--kind", "pseudonym", "--tenant", "acme", "--keyring"],
        ["--config"],
    ],
    ids=" ".join,
)
def test_a_keyring_or_settings_pasted_where_a_files_path_belongs_is_not_printed(command: list[str]) -> None:
    # click's exists=True said "file '<the value>' does not exist": `--keyring "$FACEGATE_KEYRING"`
    # printed every key.
    keyring = Keyring.generate(["acme"])
    document = keyring.export() + "\nsasl_password: Wq4rT8yU2iO6pA1sD5fG"  # no word (LeakFinder's windows)
    result = CliRunner().invoke(app, [*command, document, *(["topics", "list"] if command == ["--config"] else [])])
    assert result.exit_code == 2 and "names no file" in " ".join(result.output.split()), result.output
    finder = LeakFinder([], [], [*keyring_keys(keyring.export()), b"Wq4rT8yU2iO6pA1sD5fG"])
    assert finder.leaks({"output": result.output.encode()}) == []


def test_a_keyring_files_variable_naming_no_file_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYRING_VARIABLE, raising=False)
    for value, why in ((str(tmp_path / "absent.json"), "No such file"), (str(tmp_path), "Is a directory")):
        monkeypatch.setenv(KEYRING_FILE_VARIABLE, value)
        with pytest.raises(KeyringError, match=f"{KEYRING_FILE_VARIABLE} does not name a readable file .{why}") as c:
            Keyring.from_environment()
        assert value not in str(c.value) and "looks like" not in str(c.value)
        assert c.value.__context__ is None  # nor kept where a reporter walking the chain finds it


def test_keys_generate_command(tmp_path: Path) -> None:
    out = tmp_path / "keyring.json"
    result = CliRunner().invoke(app, ["keys", "generate", "--out", str(out), "-t", "acme"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    keyring = Keyring.from_text(out.read_text())
    assert not _leaks(result.output, _secrets(keyring))
    again = CliRunner().invoke(app, ["keys", "generate", "--out", str(out), "-t", "acme"])
    assert again.exit_code == 1 and Keyring.from_text(out.read_text()).protection_key("acme") == keyring.protection_key(
        "acme"
    )


def test_the_audit_signing_key_may_come_from_a_file_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = Keyring.generate(["acme"])
    document = json.loads(whole.export())
    signing = document.pop("audit_signing")
    (tmp_path / "keyring.json").write_text(json.dumps(document))
    (tmp_path / "signing.json").write_text(json.dumps(signing))
    monkeypatch.delenv("FACEGATE_KEYRING", raising=False)
    monkeypatch.setenv("FACEGATE_KEYRING_FILE", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("FACEGATE_AUDIT_SIGNING_FILE", str(tmp_path / "signing.json"))
    loaded = Keyring.from_environment()
    assert loaded is not None and loaded.signing_key()[0] == whole.signing_key()[0]
    (tmp_path / "signing.json").write_text("{not: [yaml")
    with pytest.raises(KeyringError):
        Keyring.from_environment()


def test_a_cutoff_written_without_a_zone_is_utc() -> None:
    # Hand-edited YAML, unquoted, gives a naive datetime: compared with the worker's aware clock it
    # raised in every identification and every sweep of the tenant.
    keyring = Keyring.generate(["acme"])
    keys = keyring.tenants["acme"]
    rotated = keys.model_copy(update={"protection": keys.protection.rotated()})
    document = json.loads(keyring.model_copy(update={"tenants": {"acme": rotated}}).export())
    document["tenants"]["acme"]["protection"]["revoke_after"] = {1: "CUTOFF"}
    written = yaml.safe_dump(document).replace("CUTOFF", "2026-12-01 08:00:00")
    assert yaml.safe_load(written)["tenants"]["acme"]["protection"]["revoke_after"][1].tzinfo is None
    loaded = Keyring.from_text(written)
    cutoff = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert loaded.tenants["acme"].protection.revoke_after == {1: cutoff}
    assert not loaded.protection_revoked("acme", 1, cutoff - timedelta(seconds=1))
    assert loaded.protection_revoked("acme", 1, cutoff.astimezone(timezone(timedelta(hours=8))))


def test_a_cutoff_written_without_a_zone_also_loads_beside_an_audit_signing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the chart mounts them: the keyring, and the audit signing entry in a file of its own.
    document = json.loads(Keyring.generate(["acme"]).export())
    signing = document.pop("audit_signing")
    signing["revoke_after"] = {1: "CUTOFF"}
    signing["current"], signing["versions"][2] = 2, signing["versions"]["1"]
    (tmp_path / "keyring.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "signing.yaml").write_text(yaml.safe_dump(signing).replace("CUTOFF", "2026-12-01 08:00:00"))
    monkeypatch.delenv(KEYRING_VARIABLE, raising=False)
    monkeypatch.setenv(KEYRING_FILE_VARIABLE, str(tmp_path / "keyring.yaml"))
    monkeypatch.setenv(AUDIT_SIGNING_FILE_VARIABLE, str(tmp_path / "signing.yaml"))
    loaded = Keyring.from_environment()
    assert loaded is not None and loaded.audit_signing is not None
    assert loaded.audit_signing.revoke_after == {1: datetime(2026, 12, 1, 8, 0, tzinfo=UTC)}
