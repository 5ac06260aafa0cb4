"""The Go verifier (verifier/), written from docs/audit-format.md, agrees with every test vector,
verifies receipts Python makes, and reads the key set. Built once per source change and cached."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.core.audit import note
from gateway.core.audit.keyset import KeySet
from gateway.core.audit.note import Receipt
from gateway.core.audit.tlog import Tree, leaf_hash
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
