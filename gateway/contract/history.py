"""Released versions of the contract (schemas/released/<version>/) and the evolution check.

A release freezes the schemas producers and consumers may be using. Checked with the Apache
Avro library's resolution rules, so that an incompatible edit fails the build:
- BACKWARD, against every release: today's schemas read data written with it;
- FORWARD, against every release from 0.2.0 on: its schemas read data written today. 0.2.0 gave
  every enum a default symbol (a value added later reads as the strictest case), which is what
  lets an enum grow without breaking readers still on an older release.
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


FORWARD_FROM = (0, 2, 0)  # the first release whose readers are held to read newer data


def forward_checked(release: Path) -> bool:
    return _version_key(release) >= FORWARD_FROM


def check_backward(current: SchemaSet, released: SchemaSet) -> list[Incompatibility]:
    """Every problem that would stop the current schemas from reading released data."""
    return _check(readers=current, writers=released, missing="record was removed")


def check_forward(current: SchemaSet, released: SchemaSet) -> list[Incompatibility]:
    """Every problem that would stop a released reader from reading data written today."""
    return _check(readers=released, writers=current, missing=None)  # removals: check_backward names them


def check_release(current: SchemaSet, release: Path) -> list[Incompatibility]:
    """Both directions for a release that promises them, backward only for older ones."""
    released = SchemaSet.load(release)
    problems = check_backward(current, released)
    if forward_checked(release):
        problems += [Incompatibility(p.record, f"(forward) {p.problem}") for p in check_forward(current, released)]
    return problems


def _check(readers: SchemaSet, writers: SchemaSet, missing: str | None) -> list[Incompatibility]:
    problems: list[Incompatibility] = []
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    for written in writers:
        if written.name not in readers.records:
            if missing is not None:
                problems.append(Incompatibility(written.name, missing))
            continue  # forward: a record new since the release, which its readers never ask for
        try:
            reader = avro.schema.parse(json.dumps(readers[written.name].schema))
            writer = avro.schema.parse(json.dumps(written.schema))
        except avro.errors.AvroException as exc:
            problems.append(Incompatibility(written.name, f"schema does not parse: {exc}"))
            continue
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            kinds = ", ".join(sorted({i.value for i in result.incompatibilities}))
            detail = "; ".join(sorted(str(m) for m in result.messages))
            locations = ", ".join(sorted(result.locations))
            problems.append(Incompatibility(written.name, f"{kinds} [{detail}] at {locations}"))
    return problems
