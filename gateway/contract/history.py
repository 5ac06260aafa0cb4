"""Released versions of the contract (schemas/released/<version>/) and the evolution check.

A release freezes the schemas producers may be using. Each current record must be able to
read data written with the last release (BACKWARD compatibility), checked with the Apache
Avro library's resolution rules, so that an incompatible edit fails the build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from gateway.contract.schemas import SchemaSet, default_schema_dir


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.name.split("."))


def released_dirs(schema_dir: Path | None = None) -> list[Path]:
    """Release folders, oldest first."""
    root = (schema_dir or default_schema_dir()) / "released"
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=_version_key)


def released_schema_sets(schema_dir: Path | None = None) -> list[SchemaSet]:
    return [SchemaSet.load(path) for path in released_dirs(schema_dir)]


@dataclass(frozen=True)
class Incompatibility:
    record: str
    problem: str

    def __str__(self) -> str:
        return f"{self.record}: {self.problem}"


def check_backward(current: SchemaSet, released: SchemaSet) -> list[Incompatibility]:
    """Every problem that would stop the current schemas from reading released data."""
    problems: list[Incompatibility] = []
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    for old in released:
        if old.name not in current.records:
            problems.append(Incompatibility(old.name, "record was removed"))
            continue
        try:
            reader = avro.schema.parse(json.dumps(current[old.name].schema))
            writer = avro.schema.parse(json.dumps(old.schema))
        except avro.errors.AvroException as exc:
            problems.append(Incompatibility(old.name, f"schema does not parse: {exc}"))
            continue
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            kinds = ", ".join(sorted({i.value for i in result.incompatibilities}))
            detail = "; ".join(sorted(str(m) for m in result.messages))
            locations = ", ".join(sorted(result.locations))
            problems.append(Incompatibility(old.name, f"{kinds} [{detail}] at {locations}"))
    return problems
