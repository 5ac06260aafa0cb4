"""Load the Avro contract from schemas/*.avsc and compose self-contained record schemas.

Named types (enums such as Purpose) live in files of their own so that every record uses
one definition. Records reference them by full name; composition inlines the first
reference, which gives each record a standalone schema with a stable parsing canonical
form and CRC-64-AVRO fingerprint (the id used by single-object encoding).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from gateway.errors import FaceGateError

NAMESPACE = "io.facegate.v1"

RECORD_NAMES: tuple[str, ...] = (
    "FaceCaptured",
    "CameraRegistration",
    "ConsentRecord",
    "Enrollment",
    "GovernedFace",
    "AuditRecord",
    "AuditCheckpoint",
    "RejectedEvent",
    "ShareRequest",
    "ErasureNotice",
    "SharedSubject",
    "EnrolledTemplate",
    "Withdrawal",
)

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class SchemaError(FaceGateError):
    """The schema files are missing, malformed or inconsistent."""


def default_schema_dir() -> Path:
    """schemas/ of a source checkout, or the copy packaged inside the wheel."""
    packaged = Path(str(resources.files("gateway"))) / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class RecordSchema:
    """One composed record schema and the identifiers derived from it."""

    name: str
    schema: dict[str, Any]
    canonical_form: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as single-object encoding writes it
    parsed: Any = field(repr=False, compare=False)

    @property
    def fullname(self) -> str:
        return f"{NAMESPACE}.{self.name}"

    def fields(self) -> list[dict[str, Any]]:
        return list(self.schema["fields"])


def _fullname(schema: Mapping[str, Any]) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    return f"{schema.get('namespace', NAMESPACE)}.{name}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or "name" not in data:
        raise SchemaError(f"{path}: not a named Avro schema")
    return data


def compose(schema: Any, named: Mapping[str, dict[str, Any]], seen: set[str] | None = None) -> Any:
    """Inline the first reference to each named type; later references stay names."""
    seen = set() if seen is None else seen
    if isinstance(schema, str):
        full = schema if "." in schema else f"{NAMESPACE}.{schema}"
        if schema in _PRIMITIVES:
            return schema
        if full in seen:
            return full
        if full not in named:
            raise SchemaError(f"unknown named type {schema!r}")
        seen.add(full)
        return compose(named[full], named, seen)
    if isinstance(schema, list):
        return [compose(branch, named, seen) for branch in schema]
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "error"):
            seen.add(_fullname(schema))
            out = dict(schema)
            out["fields"] = [{**f, "type": compose(f["type"], named, seen)} for f in schema["fields"]]
            return out
        if kind in ("enum", "fixed"):
            seen.add(_fullname(schema))
            return dict(schema)
        if kind == "array":
            return {**schema, "items": compose(schema["items"], named, seen)}
        if kind == "map":
            return {**schema, "values": compose(schema["values"], named, seen)}
        if isinstance(kind, str) and kind in _PRIMITIVES:
            return dict(schema)  # a primitive with attributes, e.g. a logical type
        if kind is not None:
            return {**schema, "type": compose(kind, named, seen)}
    raise SchemaError(f"cannot read schema fragment {schema!r}")


def build_record(name: str, composed: dict[str, Any]) -> RecordSchema:
    canonical = to_parsing_canonical_form(composed)
    return RecordSchema(
        name=name,
        schema=composed,
        canonical_form=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        parsed=fastavro.parse_schema(composed),
    )


@dataclass(frozen=True)
class SchemaSet:
    """Every record of one version of the contract, by short name."""

    records: Mapping[str, RecordSchema]

    @classmethod
    def load(cls, directory: Path | None = None) -> SchemaSet:
        directory = directory or default_schema_dir()
        files = sorted(directory.glob("*.avsc"))
        if not files:
            raise SchemaError(f"no *.avsc files in {directory}")
        named = {}
        for path in files:
            data = _read_json(path)
            named[_fullname(data)] = data
        records = {}
        for full, data in named.items():
            if data.get("type") != "record":
                continue
            if data.get("namespace") != NAMESPACE:
                raise SchemaError(f"{full}: namespace must be {NAMESPACE}")
            short = full.rsplit(".", 1)[1]
            records[short] = build_record(short, compose(data, named))
        return cls(records)

    def __getitem__(self, name: str) -> RecordSchema:
        return self.records[name]

    def __iter__(self) -> Iterator[RecordSchema]:
        return iter(self.records.values())
