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
from gateway.contract.history import (
    check_backward,
    check_forward,
    check_release,
    forward_checked,
    released_dirs,
    released_schema_sets,
)
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


def test_from_0_2_0_every_release_also_reads_todays_data() -> None:
    releases = released_dirs()
    assert [r.name for r in releases if forward_checked(r)] >= ["0.2.0"]
    assert not forward_checked(releases[0]), "0.1.0 had no enum defaults: it is held to backward only"
    for release in releases:
        assert check_release(SchemaSet.load(), release) == []


def test_a_field_dropped_that_old_readers_need_is_caught_forward(tmp_path: Path) -> None:
    directory = _copy_contract(tmp_path, "FaceCaptured", lambda s: s["fields"].pop(0))  # event_id, no default
    current = SchemaSet.load(directory)
    assert check_backward(current, released_schema_sets()[-1]) == [], "today's readers ignore a dropped field"
    assert [p.record for p in check_forward(current, released_schema_sets()[-1])] == ["FaceCaptured"]
    result = CliRunner().invoke(app, ["schemas", "check", "--dir", str(directory)])
    assert result.exit_code == 1 and "(forward)" in result.output


def test_an_enum_symbol_added_later_is_compatible_both_ways(tmp_path: Path) -> None:
    directory = _copy_contract(tmp_path, "Purpose", lambda s: s["symbols"].append("LOYALTY"))
    result = CliRunner().invoke(app, ["schemas", "check", "--dir", str(directory)])
    assert result.exit_code == 0, result.output


def test_a_symbol_removed_reads_as_the_default_not_as_an_error(tmp_path: Path) -> None:
    # Since 0.2.0 every enum has a default: old data naming a removed purpose reads as UNKNOWN
    # (and is blocked), which Avro's rules accept; before defaults, removal broke old data.
    directory = _copy_contract(tmp_path, "Purpose", lambda s: s["symbols"].remove("SALE"))
    assert check_backward(SchemaSet.load(directory), released_schema_sets()[-1]) == []
    assert check_backward(SchemaSet.load(directory), released_schema_sets()[0]) == []


def test_every_enum_has_a_default_that_is_one_of_its_symbols() -> None:
    for path in sorted(default_schema_dir().glob("*.avsc")):
        schema = json.loads(path.read_text())
        if schema["type"] == "enum":
            assert schema.get("default") in schema["symbols"], path.name
