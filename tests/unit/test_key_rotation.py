"""Rotating a tenant's protection key: new enrollments use the new version; templates under the
old one are searched until the cutoff, then neither searched nor kept (erased, KEY_REVOKED)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.contract.models import AuditRecord, ErasureNotice
from gateway.contract.vocabulary import Decision
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.erasure import due_erasures, erase
from gateway.core.messages import InputRecord
from gateway.core.policy.reasons import Reason
from gateway.keyring import Keyring, KeyringError
from gateway.sdk.scenario import Traffic, build_world
from tests.support.core import CODEC, NAMES, NOW, context, decide_batch, loaded_state
from tests.support.lifecycle import apply, consent, enrollment, give, new_state, on, record


def test_rotation_adds_a_current_version_and_a_cutoff_for_the_old_one() -> None:
    ring = Keyring.generate(["acme"])
    keys = ring.tenants["acme"].protection.rotated(NOW)
    assert keys.current == 2 and set(keys.versions) == {1, 2} and keys.revoke_after == {1: NOW}
    assert not keys.revoked(1, NOW - timedelta(seconds=1)) and keys.revoked(1, NOW) and not keys.revoked(2, NOW)
    again = Keyring.from_text(
        ring.model_copy(
            update={"tenants": {"acme": ring.tenants["acme"].model_copy(update={"protection": keys})}}
        ).export()
    )
    assert again.tenants["acme"].protection.revoke_after == {1: NOW}
    with pytest.raises(KeyringError, match="cannot be revoked"):
        Keyring.from_text(
            json.dumps(
                {
                    "regulator_pseudonym": {
                        "current": 1,
                        "versions": {"1": "A" * 43 + "="},
                        "revoke_after": {"1": NOW.isoformat()},
                    }
                }
            )
        )


def test_old_templates_match_until_the_cutoff_then_are_neither_searched_nor_kept() -> None:
    world = build_world(seed=3)
    tenant = world.tenants[0]
    keyring = Keyring.generate(list(world.tenants))
    state = loaded_state(world, keyring)  # every template enrolled under version 1
    cutoff = NOW + timedelta(days=30)
    keys = keyring.tenants[tenant]
    rotated = keys.model_copy(update={"protection": keys.protection.rotated(cutoff)})
    state.keyring = keyring.model_copy(update={"tenants": {**keyring.tenants, tenant: rotated}})
    capture = next(
        c.capture for c in Traffic(world, seed=9).take(400)
        if c.kind == "consenting-customer" and c.capture and c.capture.tenant_id == tenant
    )  # fmt: skip
    assert capture is not None

    def decide(at: datetime) -> Decision:
        batch = [InputRecord(NAMES.captures("lumen"), 0, 0, CODEC.encode(capture))]
        [audit] = on(decide_batch(batch, state, now=at, audit_partitions=1), NAMES.audit)
        return CODEC.decode(audit.value or b"", AuditRecord).decision

    assert decide(NOW) is Decision.FORWARDED  # version 1 templates are still searched before the cutoff
    assert decide(cutoff) is Decision.STRIPPED  # revoked: not searched any more
    due = [d for d in due_erasures(state, cutoff, lambda p: True) if d.tenant_id == tenant]
    assert due and {d.reason for d in due} == {Reason.KEY_REVOKED}
    assert not [d for d in due_erasures(state, NOW, lambda p: True) if d.tenant_id == tenant]
    s = context(state)
    erase(s, due[0])
    notice = CODEC.decode(on(s.result, NAMES.erasure(tenant))[0].value or b"", ErasureNotice)
    assert notice.reason_code == "KEY_REVOKED" and notice.rule_ids == ["R08"]
    # Not kept: the enrollment is tombstoned, so compaction removes the template from the topic.
    key = f"{tenant}/{due[0].subject_id}".encode()
    assert [(o.key, o.value) for o in on(s.result, NAMES.enrolled)] == [(key, None)]


def test_new_enrollments_use_the_new_version() -> None:
    state = new_state()
    generated = Keyring.generate(["acme", "partner"])
    acme = generated.tenants["acme"]
    state.keyring = generated.model_copy(
        update={
            "tenants": {
                **generated.tenants,
                "acme": acme.model_copy(update={"protection": acme.protection.rotated(NOW + timedelta(days=1))}),
            }
        }
    )
    give(state, consent())
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment())), s)
    apply(state, s.result)
    assert state.enrollments["acme/s1"].key_version == 2


def test_the_rotate_command_updates_the_file_without_printing_keys(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(Keyring.generate(["acme"]).export())
    before = json.loads(path.read_text())
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "keys",
            "rotate",
            "--keyring",
            str(path),
            "--kind",
            "protection",
            "--tenant",
            "acme",
            "--revoke-after",
            "2027-01-31T00:00:00",
        ],
    )
    assert out.exit_code == 0, out.output
    after = json.loads(path.read_text())
    assert after["tenants"]["acme"]["protection"]["current"] == 2 and after["tenants"]["acme"]["protection"][
        "revoke_after"
    ] == {"1": "2027-01-31T00:00:00+00:00"}
    assert after["tenants"]["acme"]["pseudonym"] == before["tenants"]["acme"]["pseudonym"]
    assert not any(secret in out.output for secret in after["tenants"]["acme"]["protection"]["versions"].values())
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (
        runner.invoke(
            app, ["keys", "rotate", "--keyring", str(path), "--kind", "pseudonym", "--tenant", "acme"]
        ).exit_code
        == 0
    )
    assert json.loads(path.read_text())["tenants"]["acme"]["pseudonym"]["current"] == 2
    refused = runner.invoke(
        app,
        [
            "keys",
            "rotate",
            "--keyring",
            str(path),
            "--kind",
            "pseudonym",
            "--tenant",
            "acme",
            "--revoke-after",
            "2027-01-01",
        ],
    )
    assert refused.exit_code == 2 and "applies to protection and audit signing keys" in refused.output


def test_a_rotation_replaces_the_keyring_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(Keyring.generate(["acme"]).export())
    path.chmod(0o644)  # as an operator may have left it: the new keys must never sit under that mode
    before, inode = path.read_text(), path.stat().st_ino
    args = ["keys", "rotate", "--keyring", str(path), "--kind", "protection", "--tenant", "acme"]

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    assert CliRunner().invoke(app, args).exit_code != 0
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]
    monkeypatch.undo()
    assert CliRunner().invoke(app, args).exit_code == 0
    assert path.stat().st_ino != inode and (path.stat().st_mode & 0o777) == 0o600, "a new file, 0600 from the start"
    assert json.loads(path.read_text())["tenants"]["acme"]["protection"]["current"] == 2


def test_a_rotation_through_a_symlink_replaces_the_file_it_names(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    real = tmp_path / "keys" / "keyring.json"
    real.write_text(Keyring.generate(["acme"]).export())
    link = tmp_path / "keyring.json"
    link.symlink_to(real)
    args = ["keys", "rotate", "--keyring", str(link), "--kind", "pseudonym", "--tenant", "acme"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert link.is_symlink() and json.loads(real.read_text())["tenants"]["acme"]["pseudonym"]["current"] == 2
    assert sorted(p.name for p in real.parent.iterdir()) == ["keyring.json"]


def test_keys_for_a_new_tenant_are_added_and_a_tenants_keys_are_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(Keyring.generate(["acme"]).export())
    before = json.loads(path.read_text())
    runner = CliRunner()
    added = runner.invoke(app, ["keys", "add", "--keyring", str(path), "-t", "gamma", "-t", "acme"])
    assert added.exit_code == 0, added.output
    after = json.loads(path.read_text())
    assert after["tenants"]["acme"] == before["tenants"]["acme"], "acme's keys kept"
    gamma = after["tenants"]["gamma"]
    assert gamma["protection"]["current"] == gamma["pseudonym"]["current"] == 1
    assert gamma["protection"]["versions"]["1"] != gamma["pseudonym"]["versions"]["1"]
    assert {k: after[k] for k in after if k != "tenants"} == {k: before[k] for k in before if k != "tenants"}
    assert not any(
        key in added.output for key in (gamma["protection"]["versions"]["1"], gamma["pseudonym"]["versions"]["1"])
    )
    assert (path.stat().st_mode & 0o777) == 0o600
    assert Keyring.from_text(path.read_text()).missing_for_production(["acme", "gamma"]) == []
    # Nothing new to add: a finding, and the file untouched.
    again = runner.invoke(app, ["keys", "add", "--keyring", str(path), "-t", "gamma"])
    assert again.exit_code == 1 and "keys kept for gamma" in again.output
    assert json.loads(path.read_text()) == after
