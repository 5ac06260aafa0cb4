"""`facegate consent withdraw|show` and `facegate subject export` read a subject's consent topic as
the workers do: a record whose body names another tenant or subject than its key changes nothing
for them, so it changes nothing for the CLI either (no broker: the topic read is faked)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord
from typer.testing import CliRunner

import gateway.cli.consent as cli
import gateway.cli.report as report_cli
import gateway.cli.subject as subject_cli
from gateway.cli import app
from gateway.contract.models import ConsentRecord
from gateway.contract.vocabulary import ConsentStatus
from gateway.settings import Settings
from tests.support.core import CODEC, NOW
from tests.support.lifecycle import consent, new_state

NOW_MS = int(NOW.timestamp() * 1000)
Sent = list[ConsentRecord]


def on_topic(key: str, value: bytes | None, offset: int, timestamp_ms: int = NOW_MS) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("facegate.consent.acme", 0, offset, timestamp_ms, 0, key.encode(), value, None, 0, 0, [])


def genuine_then(decoy: ConsentRecord | None, raw: bytes | None = None) -> list[ConsumerRecord[bytes, bytes]]:
    """acme/s1's grant, then one more record the tenant wrote under the key acme/s1."""
    value = raw if raw is not None else CODEC.encode(decoy) if decoy is not None else None
    return [on_topic("acme/s1", CODEC.encode(consent("s1")), 0), on_topic("acme/s1", value, 1)]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sent:
    """What the commands send, instead of a broker; the topic is set with `topic`."""
    monkeypatch.setenv("FACEGATE_CACHE_DIR", str(tmp_path))
    captured: Sent = []
    monkeypatch.setattr(cli, "_send", lambda settings, record, command, role: captured.append(record))
    return captured


def topic(monkeypatch: pytest.MonkeyPatch, records: list[ConsumerRecord[bytes, bytes]]) -> None:
    monkeypatch.setattr(cli, "read", lambda settings, name, command, role: list(records))


def withdraw(subject: str = "s1") -> tuple[int, str]:
    result = CliRunner().invoke(app, ["consent", "withdraw", "--tenant", "acme", "--subject", subject])
    return result.exit_code, result.output


def test_a_body_naming_another_tenant_does_not_redirect_the_withdrawal(
    monkeypatch: pytest.MonkeyPatch, sent: Sent
) -> None:
    # The worker rejects acme's record keyed acme/s1 whose body names beta/s1; the old CLI sent
    # the withdrawal to facegate.consent.beta, and the worker erased beta's subject.
    topic(monkeypatch, genuine_then(consent("s1", tenant_id="beta", recipients=[])))
    code, output = withdraw()
    assert code == 0, output
    [record] = sent
    assert (record.tenant_id, record.subject_id, record.status) == ("acme", "s1", ConsentStatus.WITHDRAWN)
    assert record.recipients == ["partner"], "built from acme's own grant, not the decoy"


def test_a_body_naming_another_subject_does_not_redirect_the_withdrawal(
    monkeypatch: pytest.MonkeyPatch, sent: Sent
) -> None:
    topic(monkeypatch, genuine_then(consent("s2")))
    code, output = withdraw()
    assert code == 0, output
    assert [(r.tenant_id, r.subject_id) for r in sent] == [("acme", "s1")]


def test_a_withdrawn_decoy_does_not_stop_the_withdrawal(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    # The worker still holds s1 GRANTED: the old CLI said "no granted consent" and sent nothing.
    decoy = consent("s2", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW - timedelta(hours=1))
    topic(monkeypatch, genuine_then(decoy))
    code, output = withdraw()
    assert code == 0, output
    assert [(r.subject_id, r.status) for r in sent] == [("s1", ConsentStatus.WITHDRAWN)]


def test_a_void_version_still_lets_the_subject_withdraw(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    # Undecodable: the workers hold no consent in force, but the enrollment stays until withdrawn.
    topic(monkeypatch, genuine_then(None, raw=b"\x00not a consent"))
    code, output = withdraw()
    assert code == 0 and "void" in output, output
    assert [(r.subject_id, r.status) for r in sent] == [("s1", ConsentStatus.WITHDRAWN)]


def test_a_void_version_over_a_compacted_grant_deletes_the_consent(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    # Compaction kept the key's latest record alone, the void one: no grant to build a withdrawal
    # from, and the workers still hold the enrollment. A deletion erases it at once.
    deleted: list[tuple[str, str]] = []
    monkeypatch.setattr(cli, "_delete", lambda settings, tenant, subject: deleted.append((tenant, subject)))
    topic(monkeypatch, [on_topic("acme/s1", b"\x00not a consent", 1)])
    code, output = withdraw()
    assert code == 0 and "void" in output, output
    assert deleted == [("acme", "s1")] and sent == []
    # Only when void versions are all there is: a decoy for another subject, a deletion, or a
    # withdrawal before the void version (the consent ended already) stays a finding.
    deleted.clear()
    withdrawn = consent("s1", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW)
    for records in (
        [on_topic("acme/s1", CODEC.encode(consent("s2")), 0)],
        genuine_then(None),
        [*genuine_then(withdrawn), on_topic("acme/s1", b"\x00not a consent", 2)],
        [*genuine_then(None), on_topic("acme/s1", b"\x00not a consent", 2)],
    ):
        topic(monkeypatch, records)
        assert withdraw()[0] == 1
    assert deleted == []


def test_nothing_is_sent_without_a_grant_the_workers_hold(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    topic(monkeypatch, [on_topic("acme/s1", CODEC.encode(consent("s2")), 0)])  # only a decoy
    assert withdraw()[0] == 1
    withdrawn = consent("s1", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW)
    topic(monkeypatch, genuine_then(withdrawn))
    assert withdraw()[0] == 1
    topic(monkeypatch, genuine_then(None))  # deleted
    assert withdraw()[0] == 1
    assert sent == []


def test_a_withdrawal_for_anyone_else_is_never_sent(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    topic(monkeypatch, genuine_then(consent("s1", notice_version="notice-v2")))
    monkeypatch.setattr(cli, "withdrawal", lambda granted, at: consent("s2", status=ConsentStatus.WITHDRAWN))
    code, output = withdraw()
    assert code == 1 and "refused" in output and sent == []


def shown(monkeypatch: pytest.MonkeyPatch, records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, object]]:
    topic(monkeypatch, records)
    result = CliRunner().invoke(app, ["consent", "show", "--tenant", "acme", "--subject", "s1", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_show_marks_what_the_workers_ignore_without_its_body(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    decoy = consent("s1", tenant_id="beta", recipients=[], notice_version="decoy-notice")
    rows = shown(monkeypatch, genuine_then(decoy))
    assert rows[0]["status"] == "GRANTED" and rows[0]["subject_id"] == "s1"
    assert rows[1] == {"status": "IGNORED", "reason": "KEY_MISMATCH"}, "another subject's body is not shown"


def test_show_marks_void_versions(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    ahead = consent("s1", granted_at=NOW + timedelta(hours=1), notice_version="notice-v2")
    rows = shown(monkeypatch, [*genuine_then(None, raw=b"\x00"), on_topic("acme/s1", CODEC.encode(ahead), 2)])
    assert rows[1]["status"] == "VOID" and str(rows[1]["reason"]).startswith("DECODE_")
    assert (rows[2]["status"], rows[2]["claimed_status"], rows[2]["reason"]) == ("VOID", "GRANTED", "TIME_IN_FUTURE")


def test_subject_export_reads_the_consent_topic_as_the_workers_do(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, tmp_path: Path
) -> None:
    decoy = consent("s1", tenant_id="beta", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW, notice_version="x-9")
    topic(monkeypatch, genuine_then(decoy))
    monkeypatch.setattr(subject_cli, "read", lambda settings, name, command, role: [])
    out = tmp_path / "export.json"
    args = ["subject", "export", "--tenant", "acme", "--subject", "s1", "--format", "json", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    history = json.loads(out.read_text())["consent_history"]
    assert history[0]["status"] == "GRANTED"
    assert history[1] == {"status": "IGNORED", "reason": "KEY_MISMATCH"}
    assert "x-9" not in out.read_text() and "beta" not in out.read_text()


@pytest.mark.parametrize(
    "second",
    [
        consent("s1", tenant_id="beta"),
        consent("s2"),
        consent("s2", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW),
        consent("s1", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW),
        consent("s1", granted_at=NOW + timedelta(hours=1)),
        consent("s1", notice_version="notice-v2"),
        None,
        b"\x00",
    ],
)
def test_the_cli_holds_what_the_workers_hold(second: ConsentRecord | bytes | None) -> None:
    # The CLI's reading and GatewayState.apply_consent (the feeds' and the agent's) agree.
    records = genuine_then(None, raw=second) if isinstance(second, bytes) else genuine_then(second)
    state = new_state()
    for r in records:
        state.apply_consent("acme", "acme/s1", r.value, r.partition, r.offset, r.timestamp)
    history = state.consent("acme", "s1")
    held = cli.by_key(Settings(), "acme", records)["acme/s1"]
    assert cli.current(held) == (history.current if history is not None else None)


def test_report_processing_counts_the_consents_the_workers_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # acme wrote, besides s1's grant, a WITHDRAWN body for s9 under s1's key and a grant for s3
    # under the key acme/s2: the workers hold s1 GRANTED and nothing for s2.
    consents = [
        *genuine_then(consent("s9", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW)),
        on_topic("acme/s2", CODEC.encode(consent("s3")), 2),
    ]
    by_topic = {"facegate.consent.acme": consents}
    monkeypatch.setattr(report_cli, "read", lambda settings, name, command, role: by_topic.get(name, []))
    result = CliRunner().invoke(app, ["report", "processing", "--tenant", "acme", "--format", "json"])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    subjects = record["data"]["subjects"]
    assert (subjects["consenting"], subjects["withdrawn"]) == (1, 0)


def test_offboarding_deletes_every_consent_the_workers_may_still_act_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A tenant removed from the settings has its templates kept for good (no policy, no sweep): it
    # is offboarded by deleting its consents first, each erased, notified and audited by a worker.
    monkeypatch.setenv("FACEGATE_CACHE_DIR", str(tmp_path))
    deleted: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(cli, "_delete_all", lambda settings, tenant, subjects: deleted.append((tenant, subjects)))
    withdrawn = consent("s2", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW)
    topic(monkeypatch, [
        on_topic("acme/s1", CODEC.encode(consent("s1")), 0),
        on_topic("acme/s2", CODEC.encode(consent("s2")), 1), on_topic("acme/s2", CODEC.encode(withdrawn), 2),  # erased
        on_topic("acme/s3", CODEC.encode(consent("s3")), 3), on_topic("acme/s3", None, 4),  # deleted already
        on_topic("acme/s4", b"not a consent", 5),  # void: may have been a withdrawal; the enrollment may be held
        on_topic("acme/s5", CODEC.encode(consent("s5", tenant_id="beta")), 6),  # ignored: speaks for beta
        on_topic("beta/s6", CODEC.encode(consent("s6", tenant_id="beta")), 7),  # another tenant's key
        on_topic("no-subject", b"not a consent", 8),  # a key that names no subject
    ])  # fmt: skip
    runner = CliRunner()
    refused = runner.invoke(app, ["consent", "delete-all", "--tenant", "acme"])
    assert refused.exit_code == 2 and "--yes" in refused.output and not deleted
    result = runner.invoke(app, ["consent", "delete-all", "--tenant", "acme", "--yes"])
    assert result.exit_code == 0, result.output
    assert deleted == [("acme", ["s1", "s4"])] and "2 subject(s)" in result.output
    topic(monkeypatch, [on_topic("acme/s3", None, 4)])
    assert runner.invoke(app, ["consent", "delete-all", "--tenant", "acme", "--yes"]).exit_code == 1
