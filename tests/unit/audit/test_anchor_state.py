"""The regulator's anchor file (docs/audit-format.md §9) never loses state: a run with a finding (or a
--strict failure) leaves it as it was, and a passing run merges what it verified with what was kept,
so a downgraded export (v0 checkpoints only, no notes) cannot wipe it for a later rewind."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.contract.models import AuditCheckpoint
from gateway.core.audit import note
from gateway.core.audit.anchors import Anchors
from gateway.core.audit.chain import ChainHead, append
from gateway.core.audit.keyset import KeySet
from gateway.core.audit.note import raw_public
from gateway.core.audit.tlog import Code
from gateway.core.audit.verify import LogEntry, VerifyReport, verify_audit_log
from gateway.files.exports import write_export
from tests.support.audit_log import CODEC, KEY, LOG, Writer
from tests.vectors.audit.generate import _fields


def keys() -> KeySet:
    return KeySet.of(LOG, [(raw_public(KEY.public_key()), None, None, None)])


def written(batches: int = 2) -> Writer:
    writer = Writer(partitions=3)
    for _ in range(batches):
        for p in (0, 1, 2):
            writer.records(p, 5)
        writer.sign()
    return writer


def downgraded(entries: list[LogEntry]) -> list[LogEntry]:
    """Every checkpoint's note and frontier blanked (its genuine v0 signature kept), the notes deleted."""
    out = []
    for e in entries:
        record = CODEC.decode_any(e.value)
        if isinstance(record, AuditCheckpoint):
            if record.note.startswith(note.completeness_origin(LOG) + "\n"):
                continue
            out.append(
                LogEntry(e.partition, e.offset, CODEC.encode(record.model_copy(update={"note": "", "frontier": []})))
            )
            continue
        out.append(e)
    return out


def verified(entries: list[LogEntry], anchors: Anchors | None = None) -> VerifyReport:
    return verify_audit_log(entries, CODEC, keys(), anchors)


def codes(report: VerifyReport) -> set[str]:
    return {str(f.code) for f in (f for _, f in report.all_findings) if f.is_error}


def test_a_passing_run_keeps_what_was_kept_before() -> None:
    genuine = written().entries()
    kept = verified(genuine).kept(LOG)
    assert set(kept.partitions) == {0, 1, 2} and kept.completeness is not None
    # Partition 2 shown without its checkpoints: whatever today's run says, the kept head stays.
    report = verified([e for e in genuine if e.partition != 2 or not _is_checkpoint(e)], kept)
    merged = report.kept(LOG, kept)
    assert set(merged.partitions) == {0, 1, 2} and merged.completeness == kept.completeness
    assert merged.partitions[2] == kept.partitions[2]
    # And a later export that drops partition 2 is still caught against it.
    later = verified([e for e in genuine if e.partition != 2], merged)
    assert Code.PARTITION_MISSING in codes(later), later.problems


def test_a_partition_the_anchor_knows_is_missing_without_a_completeness_note() -> None:
    genuine = written().entries()
    kept = verified(genuine).kept(LOG)
    kept = Anchors(LOG, kept.partitions, None)
    report = verified([e for e in downgraded(genuine) if e.partition != 2], kept)
    assert Code.PARTITION_MISSING in codes(report), report.problems


def _is_checkpoint(e: LogEntry) -> bool:
    return isinstance(CODEC.decode_any(e.value), AuditCheckpoint)


def _verify_cli(export: Path, keyset: Path, anchor: Path, *extra: str) -> int:
    args = ["audit", "verify", "--keyset", str(keyset), "--file", str(export), "--anchor", str(anchor), *extra]
    return CliRunner().invoke(app, [*args, "--format", "json"]).exit_code


def test_the_anchor_file_is_written_only_by_a_run_that_exits_0(tmp_path: Path) -> None:
    keyset = tmp_path / "keyset.json"
    keyset.write_text(keys().dump())
    anchor = tmp_path / "anchor.json"
    writer = written()
    write_export(writer.entries(), tmp_path / "genuine.jsonl", None)
    assert _verify_cli(tmp_path / "genuine.jsonl", keyset, anchor) == 0
    kept = anchor.read_text()
    assert {p["partition"] for p in json.loads(kept)["partitions"]} == {0, 1, 2}
    # Checkpoints and notes deleted: --strict fails (records not covered), and the anchor stays as it was.
    bare = [e for e in writer.entries() if not _is_checkpoint(e)]
    write_export(bare, tmp_path / "bare.jsonl", None)
    assert _verify_cli(tmp_path / "bare.jsonl", keyset, anchor, "--strict") == 1
    assert anchor.read_text() == kept
    # A downgraded export that passes keeps what was kept (merged, never replaced by less).
    write_export(downgraded(writer.entries()), tmp_path / "down.jsonl", None)
    _verify_cli(tmp_path / "down.jsonl", keyset, anchor)
    after = json.loads(anchor.read_text())
    assert {p["partition"] for p in after["partitions"]} == {0, 1, 2} and after["completeness"]
    # A rewound export (partition 2 dropped) is then still caught.
    rewound = [e for e in writer.entries() if e.partition != 2]
    write_export(rewound, tmp_path / "rewound.jsonl", None)
    assert _verify_cli(tmp_path / "rewound.jsonl", keyset, anchor) == 1


def test_a_fork_contradicting_a_kept_completeness_line_is_caught() -> None:
    genuine = written()
    kept = verified(genuine.entries()).kept(LOG)
    # Partition 2's kept checkpoint lost (as after a run that showed it without checkpoints): only the
    # kept completeness note still names its head (size 10).
    kept = Anchors(LOG, {p: h for p, h in kept.partitions.items() if p != 2}, kept.completeness)
    fork = Writer(partitions=3, at=genuine.at)  # the key holder rewrites partition 2 and re-signs it all
    for p in (0, 1):
        fork.write(p, [v for v in genuine.log[p] if not isinstance(CODEC.decode_any(v), AuditCheckpoint)])
    head = ChainHead()
    for i in range(13):
        record, head = append({**_fields(2, i), "camera_id": "cam-forged"}, head)
        fork.write(2, [CODEC.encode(record)])
    fork.sign()
    report = verified(fork.entries(), kept)
    assert Code.TAMPERED_RECORD in codes(report), report.problems
