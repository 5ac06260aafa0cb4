"""The evolution check fails on any change that stops today's schemas reading released data."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.contract.history import check_backward, released_dirs, released_schema_sets
from gateway.contract.schemas import SchemaSet, default_schema_dir

Edit = Callable[[dict[str, Any]], object]


def _copy_contract(tmp_path: Path, record: str, edit: Edit) -> Path:
    shutil.copytree(default_schema_dir(), tmp_path / "schemas")
    path = tmp_path / "schemas" / f"{record}.avsc"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return tmp_path / "schemas"


def test_there_is_a_release_and_today_is_compatible_with_it() -> None:
    assert released_dirs(), "schemas/released/<version>/ must hold the last released contract"
    assert check_backward(SchemaSet.load(), released_schema_sets()[-1]) == []


INCOMPATIBLE: dict[str, tuple[str, Edit]] = {
    "field-without-default": (
        "FaceCaptured",
        lambda s: s["fields"].append({"name": "site", "type": "string"}),
    ),
    "type-change": (
        "AuditRecord",
        lambda s: [f.update(type="int") for f in s["fields"] if f["name"] == "seq"],
    ),
    "enum-symbol-removed": ("Purpose", lambda s: s["symbols"].remove("SALE")),
    "field-renamed": ("Enrollment", lambda s: s["fields"][1].__setitem__("name", "person_id")),
}


@pytest.mark.parametrize("case", sorted(INCOMPATIBLE))
def test_incompatible_changes_are_caught(tmp_path: Path, case: str) -> None:
    record, edit = INCOMPATIBLE[case]
    directory = _copy_contract(tmp_path, record, edit)
    assert check_backward(SchemaSet.load(directory), released_schema_sets()[-1])
    result = CliRunner().invoke(app, ["schemas", "check", "--dir", str(directory)])
    assert result.exit_code == 1
    assert "incompatible" in result.output


def test_removing_a_record_is_caught(tmp_path: Path) -> None:
    directory = _copy_contract(tmp_path, "ShareRequest", lambda s: None)
    (directory / "ShareRequest.avsc").unlink()
    problems = check_backward(SchemaSet.load(directory), released_schema_sets()[-1])
    assert [p.record for p in problems] == ["ShareRequest"]


def test_a_field_added_with_a_default_is_compatible(tmp_path: Path) -> None:
    directory = _copy_contract(
        tmp_path,
        "AuditRecord",
        lambda s: s["fields"].append({"name": "reviewer_note", "type": ["null", "string"], "default": None}),
    )
    assert check_backward(SchemaSet.load(directory), released_schema_sets()[-1]) == []
    result = CliRunner().invoke(app, ["schemas", "check", "--dir", str(directory)])
    assert result.exit_code == 0, result.output
