"""Every type and field of the contract is documented for those who write producers and consumers
in other languages: each record, each of its fields (nested records' too) and each enum of the
current schemas (not the frozen releases) carries a non-empty doc."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.avsc"))


def _documented(node: dict[str, Any]) -> bool:
    doc = node.get("doc")
    return isinstance(doc, str) and bool(doc.strip())


def _undocumented(schema: Any, where: str) -> Iterator[str]:
    """Where a named type or a record field defined in `schema` lacks a doc."""
    if isinstance(schema, list):  # a union
        for branch in schema:
            yield from _undocumented(branch, where)
        return
    if not isinstance(schema, dict):  # a primitive or a reference to a named type
        return
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        where = str(schema.get("name", where))
        if not _documented(schema):
            yield f"{kind} {where}"
    if kind in ("record", "error"):
        for field in schema.get("fields", []):
            if not _documented(field):
                yield f"field {where}.{field['name']}"
            yield from _undocumented(field["type"], f"{where}.{field['name']}")
    elif kind == "array":
        yield from _undocumented(schema["items"], where)
    elif kind == "map":
        yield from _undocumented(schema["values"], where)
    elif isinstance(kind, dict | list):  # {"type": {...}}: a nested definition
        yield from _undocumented(kind, where)


def test_the_current_schemas_are_found() -> None:
    assert SCHEMA_FILES, f"no *.avsc in {SCHEMA_DIR}"
    kinds = {json.loads(path.read_text(encoding="utf-8"))["type"] for path in SCHEMA_FILES}
    assert kinds == {"record", "enum"}


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.stem)
def test_every_record_field_and_enum_has_a_doc(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert list(_undocumented(schema, path.stem)) == []


def test_nested_records_and_missing_docs_are_found() -> None:
    nested = {
        "type": "record", "name": "Outer", "doc": "Outer.",
        "fields": [
            {"name": "a", "type": "string"},
            {"name": "b", "doc": "B.", "type": {"type": "array", "items": {
                "type": "record", "name": "Inner", "fields": [{"name": "c", "type": ["null", "int"]}],
            }}},
            {"name": "d", "doc": " ", "type": ["null", {"type": "enum", "name": "E", "symbols": ["X"]}]},
        ],
    }  # fmt: skip
    assert list(_undocumented(nested, "Outer")) == [
        "field Outer.a",
        "record Inner",
        "field Inner.c",
        "field Outer.d",
        "enum E",
    ]
