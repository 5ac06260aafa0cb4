"""The Go verifier (verifier/), written from docs/audit-format.md, agrees with every test vector,
verifies receipts Python makes, and reads the key set. Built once per source change and cached."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.contract.models import AuditRecord
from gateway.core.audit import note
from gateway.core.audit.anchors import Anchors
from gateway.core.audit.keyset import KeySet
from gateway.core.audit.legacy import audit_writer_schemas
from gateway.core.audit.note import Receipt
from gateway.core.audit.prove import prove
from gateway.core.audit.signing import completeness_checkpoint
from gateway.core.audit.tlog import Tree, leaf_hash
from gateway.core.audit.verify import LogEntry, verify_audit_log
from gateway.files.exports import read_export, write_export
from gateway.keyring import key_id
from tests.support.audit_log import CODEC, KEY, LOG, T0, Writer
from tests.support.go_verifier import run
from tests.vectors.audit.generate import FILES, checkpoint, current_records
from tests.vectors.audit.generate import HERE as VECTORS


@cache
def go_findings() -> dict[tuple[str, str], list[str]]:
    result = run("vectors", "-json", str(VECTORS))
    assert result.returncode in (0, 1), result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {(line["file"], line["case"]): line["findings"] for line in lines}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    return [(name, case) for name in FILES for case in json.loads((VECTORS / name).read_text())["cases"]]


def test_go_reads_every_vector_file_and_case() -> None:
    assert set(go_findings()) == {(name, case["name"]) for name, case in _cases()}
    assert run("vectors", str(VECTORS)).returncode == 0


@pytest.mark.parametrize(("file", "case"), _cases(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_go_reports_what_each_vector_expects(file: str, case: dict[str, Any]) -> None:
    assert go_findings()[file, case["name"]] == case["expect"]


def _receipt_file(tmp_path: Path, receipt: dict[str, Any]) -> list[str]:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    keys = tmp_path / "keyset.json"
    keys.write_text(json.dumps(json.loads((VECTORS / "keys.json").read_text())["keyset"]))
    return ["receipt", "-keys", str(keys), "-schemas", str(VECTORS / "leaves.json"), str(path)]


def test_go_verifies_a_receipt_python_makes_now(tmp_path: Path) -> None:
    records = current_records(7, 21)
    tree = Tree.of(leaf_hash(r) for r in records)
    signed = checkpoint(7, 21, tree.root()).encode()
    receipt = Receipt("evt-7-13", 7, 13, records[13], tuple(tree.inclusion_proof(13, 21)), signed)
    result = run(*_receipt_file(tmp_path, json.loads(receipt.to_json())))
    assert result.returncode == 0 and "receipt verifies" in result.stdout, result.stdout + result.stderr
    forged = json.loads(receipt.to_json()) | {"record": note.b64(records[12])}
    result = run(*_receipt_file(tmp_path, forged))
    assert result.returncode == 1 and result.stdout.startswith("tampered-record"), result.stdout


def test_go_reads_the_key_set_and_refuses_a_malformed_one(tmp_path: Path) -> None:
    keyset = json.loads((VECTORS / "keys.json").read_text())["keyset"]
    path = tmp_path / "keyset.json"
    path.write_text(json.dumps(keyset))
    result = run("keyset", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(key["vkey"] in result.stdout for key in keyset["keys"])
    assert "revoked 2026-10-01T00:00:00.000Z" in result.stdout
    keyset["keys"][0]["key_id"] = "00000000"
    path.write_text(json.dumps(keyset))
    result = run("keyset", str(path))
    assert result.returncode == 1 and result.stdout.startswith("malformed"), result.stdout


def test_both_verifiers_refuse_a_key_set_from_year_0000(tmp_path: Path) -> None:
    keyset = json.loads((VECTORS / "keys.json").read_text())["keyset"]
    keyset["keys"][0]["valid_from"] = "0000-01-01T00:00:00.000Z"
    path = tmp_path / "keyset.json"
    path.write_text(json.dumps(keyset))
    with pytest.raises(note.NoteError, match="real date"):
        KeySet.load(path.read_text())
    result = run("keyset", str(path))
    assert result.returncode == 1 and result.stdout.startswith("malformed"), result.stdout


# -- whole exports: both verifiers read the same file and must report the same findings ---------

KEYS = KeySet.of(LOG, [(note.raw_public(KEY.public_key()), None, None, None)])


def _export_files(tmp_path: Path, entries: list[LogEntry] | None = None, lines: str | None = None) -> Path:
    (tmp_path / "keyset.json").write_text(KEYS.dump())
    (tmp_path / "schemas.json").write_text(json.dumps({"schemas": audit_writer_schemas()}, default=str))
    export = tmp_path / "export.jsonl"
    if lines is not None:
        export.write_text(lines)
    else:
        write_export(entries or [], export)
    return export


def go_export(export: Path, *options: str) -> tuple[int, set[str]]:
    folder = export.parent
    result = run("export", "-keys", str(folder / "keyset.json"), "-schemas", str(folder / "schemas.json"), *options,
                 "-json", str(export))  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, {f["Code"] for f in json.loads(result.stdout)["findings"]}


def both(
    folder: Path,
    entries: list[LogEntry],
    now: datetime = T0 + timedelta(hours=1),
    max_age: timedelta | None = None,
    anchors: Path | None = None,
) -> tuple[set[str], set[str]]:
    """The finding codes of the Python verifier and of the Go verifier for one export (and anchor file)."""
    folder.mkdir(exist_ok=True)
    export = _export_files(folder, entries)
    kept = None
    if anchors is not None and anchors.is_file():
        kept, found = Anchors.load(anchors.read_text(), KEYS)
        assert not found, found
    report = verify_audit_log(list(read_export(export)), CODEC, KEYS, kept, now, max_age)
    options = ["-now", note.format_time(now)]
    options += ["-max-age", f"{max_age.total_seconds():.0f}s"] if max_age else []
    options += ["-anchor", str(anchors)] if anchors else []
    code, golang = go_export(export, *options)
    python = {str(f.code) for _, f in report.all_findings}
    assert (code == 1) == report.tampered, (python, golang)
    return python, golang


def _logged() -> list[LogEntry]:
    writer = Writer()
    for _ in range(2):
        writer.records(0, 5)
        writer.records(1, 5)
        writer.sign()
    return writer.entries()


def test_both_verifiers_agree_on_an_untouched_export(tmp_path: Path) -> None:
    assert both(tmp_path, _logged()) == (set(), set())


def _lines(entries: list[LogEntry]) -> list[dict[str, Any]]:
    return [{"partition": e.partition, "offset": e.offset, "value": note.b64(e.value)} for e in entries]


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: json.dumps({**line, "Value": line["value"]}),  # encoding/json would read "Value" for "value"
        lambda line: json.dumps({"PARTITION": line["partition"], "offset": line["offset"], "value": line["value"]}),
        lambda line: json.dumps(line)[:-1] + ', "value": "AAAA"}',  # a repeated name: which one counts?
        lambda line: json.dumps({**line, "extra": 1}),
        lambda line: json.dumps({**line, "value": "!" + line["value"]}),  # Python's b64decode skipped the "!"
        lambda line: json.dumps({**line, "value": line["value"].rstrip("=")}),  # not canonical base64
        lambda line: json.dumps({**line, "partition": "1"}),
        lambda line: json.dumps({**line, "offset": None}),
    ],
)
def test_both_verifiers_refuse_an_export_line_that_could_be_read_two_ways(tmp_path: Path, edit: Any) -> None:
    lines = [json.dumps(line) for line in _lines(_logged())]
    lines[3] = edit(json.loads(lines[3]))
    export = _export_files(tmp_path, lines="\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 4"):
        list(read_export(export))
    result = run("export", "-keys", str(tmp_path / "keyset.json"), "-schemas", str(tmp_path / "schemas.json"),
                 str(export))  # fmt: skip
    assert result.returncode == 2 and "line 4" in result.stderr, result.stdout + result.stderr


def test_both_verifiers_refuse_a_line_of_no_partition(tmp_path: Path) -> None:
    # Partition -1 read the completeness note's line of another partition (Python) and crashed Go.
    lines = [json.dumps(line) for line in _lines(_logged())]
    lines[3] = json.dumps({**json.loads(lines[3]), "partition": -1})
    export = _export_files(tmp_path, lines="\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 4"):
        list(read_export(export))
    result = run("export", "-keys", str(tmp_path / "keyset.json"), "-schemas", str(tmp_path / "schemas.json"),
                 str(export))  # fmt: skip
    assert result.returncode == 1 and "not a partition of the topic" in result.stdout + result.stderr, result.stdout


def test_both_verifiers_read_an_export_header_and_refuse_an_unknown_one(tmp_path: Path) -> None:
    header = {"format": "facegate-audit-export/v1", "topic": "facegate.audit", "exported_at": "x", "partitions": 2,
              "log_start_offsets": [0, 0], "end_offsets": [11, 6]}  # fmt: skip
    for extra, refused in (({}, False), ({"Topic": "other"}, True), ({"format": "other/v1"}, True)):
        lines = [json.dumps(header | extra), *(json.dumps(line) for line in _lines(_logged()))]
        export = _export_files(tmp_path, lines="\n".join(lines) + "\n")
        if refused:
            with pytest.raises(ValueError, match="line 1"):
                list(read_export(export))
        else:
            assert len(list(read_export(export))) == len(_logged())
        result = run("export", "-keys", str(tmp_path / "keyset.json"), "-schemas", str(tmp_path / "schemas.json"),
                     str(export))  # fmt: skip
        assert result.returncode == (2 if refused else 0), (extra, result.stdout + result.stderr)


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: {**doc, "event_id": "evt-someone-else", "Event_ID": doc["event_id"]},
        lambda doc: {**doc, "note": "extra"},
        lambda doc: {k: v for k, v in doc.items() if k != "partition"},
        lambda doc: {**doc, "record": "!" + doc["record"]},
    ],
)
def test_both_verifiers_refuse_a_receipt_that_could_be_read_two_ways(tmp_path: Path, edit: Any) -> None:
    entries = _logged()
    receipt = prove(entries, CODEC, LOG, "evt-1-2")
    assert receipt is not None
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(edit(json.loads(receipt.to_json()))))
    with pytest.raises(note.NoteError):
        Receipt.from_json(path.read_text())
    _export_files(tmp_path)
    result = run("receipt", "-keys", str(tmp_path / "keyset.json"), "-schemas", str(tmp_path / "schemas.json"),
                 str(path))  # fmt: skip
    assert result.returncode == 1 and result.stdout.startswith("malformed"), result.stdout


def test_both_verifiers_refuse_a_repeated_member_in_a_key_set(tmp_path: Path) -> None:
    text = KEYS.dump().replace('"log": ', '"log": "other.example/audit", "log": ', 1)
    path = tmp_path / "keyset.json"
    path.write_text(text)
    with pytest.raises(note.NoteError, match="repeated"):
        KeySet.load(text)
    result = run("keyset", str(path))
    assert result.returncode == 1 and result.stdout.startswith("malformed"), result.stdout


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: {**doc, "Log": "other.example/audit"},
        lambda doc: {**doc, "partitions": [{**p, "Size": p["size"]} for p in doc["partitions"]]},
        lambda doc: {**doc, "partitions": [{**p, "hashes": ["!" + h for h in p["hashes"]]} for p in doc["partitions"]]},
    ],
)
def test_both_verifiers_refuse_an_anchor_file_that_could_be_read_two_ways(tmp_path: Path, edit: Any) -> None:
    entries = _logged()
    kept = verify_audit_log(entries, CODEC, KEYS).kept(LOG)
    anchors = tmp_path / "kept.json"
    anchors.write_text(json.dumps(edit(json.loads(kept.dump()))))
    assert [str(f.code) for f in Anchors.load(anchors.read_text(), KEYS)[1]] == ["malformed"]
    export = _export_files(tmp_path, entries)
    code, golang = go_export(export, "-now", note.format_time(T0 + timedelta(hours=1)), "-anchor", str(anchors))
    assert code == 1 and golang == {"malformed"}


def test_both_verifiers_find_a_history_replaced_below_the_kept_head_and_keep_it(tmp_path: Path) -> None:
    first = Writer()
    for _ in range(2):
        first.records(0, 10)
        first.records(1, 10)
        first.sign()
    anchors = tmp_path / "kept.json"
    assert both(tmp_path / "run1", first.entries(), anchors=anchors) == (set(), set())
    assert json.loads(anchors.read_text()) == json.loads(
        verify_audit_log(first.entries(), CODEC, KEYS).kept(LOG).dump()
    )
    kept = anchors.read_text()
    forked = Writer()  # partition 1 rewritten from leaf 0 with other records, signed at 15, 30 and 45
    for _ in range(3):
        forked.records(0, 10)
        head = forked.heads.get(1)
        forked.write(1, current_records(7, 15, head, head.seq + 1 if head else 0))
        forked.sign()
    entries = forked.entries()
    size_30 = [i for i, e in enumerate(entries) if e.partition == 1 and not _is_record(e.value)][1]
    entries = [e for i, e in enumerate(entries) if e.partition != 1 or i >= size_30]  # its start deleted
    assert both(tmp_path / "cold", entries) == ({"pruned-before-checkpoint"}, {"pruned-before-checkpoint"})
    python, golang = both(tmp_path / "run2", entries, anchors=anchors)
    assert "missing-leaves" in python and python == golang
    assert anchors.read_text() == kept, "a run with a finding keeps the old head"


def test_both_verifiers_find_a_completeness_line_forking_a_checkpoint_of_its_size(tmp_path: Path) -> None:
    writer = Writer()
    writer.records(0, 5)
    writer.records(1, 5)
    writer.sign()
    writer.log[0].pop()  # the honest note; the forged one below is the only one
    listing = [(writer.trees[0].size, writer.trees[0].root()), (writer.trees[1].size, bytes(32))]
    writer.log[0].append(CODEC.encode(completeness_checkpoint(KEY, key_id(KEY), LOG, listing, writer.signed[0],
                                                              writer.at + timedelta(seconds=1))))  # fmt: skip
    python, golang = both(tmp_path, writer.entries())
    assert "inconsistent" in python and python == golang


def _is_record(value: bytes) -> bool:
    return isinstance(CODEC.decode_any(value), AuditRecord)


def test_both_verifiers_find_notes_dated_after_the_time_of_verification(tmp_path: Path) -> None:
    writer = Writer()
    writer.records(0, 5)
    writer.records(1, 5)
    writer.sign()
    writer.at = T0 + timedelta(days=3650)
    writer.records(1, 5)
    writer.sign()
    now = T0 + timedelta(days=7)
    assert both(tmp_path, writer.entries(), now, timedelta(minutes=5)) == ({"inconsistent"}, {"inconsistent"})
    assert both(tmp_path, writer.entries(), writer.at - note.CLOCK_SKEW) == (set(), set())


def test_both_verifiers_find_records_no_signature_covers_older_than_the_maximum_age(tmp_path: Path) -> None:
    entries = [e for e in _logged() if _is_record(e.value)]  # every checkpoint and note removed
    now, max_age = T0 + timedelta(days=7), timedelta(minutes=5)
    expected = {"stale", "partition-missing"}
    assert both(tmp_path, entries, now, max_age) == (expected, expected)
    assert both(tmp_path, entries, now) == (set(), set()), "without a maximum age they are only counted"
