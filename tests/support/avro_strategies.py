"""Hypothesis strategies that generate Avro data from a schema (the contract's, not a copy of it).

Generating from the schema itself means the model/schema agreement tests cover every field,
including ones added later. Fields with semantic limits the schema cannot express (quality
in [0, 1], whole float32 templates) take an override keyed "Record.field".
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

_MILLIS = st.integers(min_value=0, max_value=4_102_444_800_000)  # 1970 .. 2100


def _timestamp(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)


TIMESTAMPS = _MILLIS.map(_timestamp)
TEMPLATES = st.lists(st.floats(min_value=-1.0, max_value=1.0, width=32), min_size=1, max_size=64).map(
    lambda values: struct.pack(f"<{len(values)}f", *values)
)

OVERRIDES: dict[str, st.SearchStrategy[Any]] = {
    "FaceCaptured.template": TEMPLATES,
    "Enrollment.template": TEMPLATES,
    "FaceCaptured.quality": st.floats(min_value=0.0, max_value=1.0),
    "FaceCaptured.age_estimate": st.none() | st.integers(min_value=0, max_value=150),
    "AuditRecord.seq": st.integers(min_value=0, max_value=2**63 - 1),
    "RejectedEvent.source_partition": st.integers(min_value=0, max_value=2**31 - 1),
    "RejectedEvent.source_offset": st.integers(min_value=0, max_value=2**63 - 1),
    "RejectedEvent.payload_size": st.integers(min_value=0, max_value=2**63 - 1),
    "RejectedEvent.payload_sha256": st.binary(min_size=32, max_size=32).map(bytes.hex),
    "AuditCheckpoint.audit_partition": st.integers(min_value=0, max_value=2**31 - 1),
    "AuditCheckpoint.seq": st.integers(min_value=-1, max_value=2**63 - 1),
    "AuditCheckpoint.head_hash": st.binary(min_size=32, max_size=32).map(bytes.hex),
}

_TEXT = st.text(min_size=1, max_size=24)


def datum(schema: Any, record: str = "", named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    named = {} if named is None else named
    if isinstance(schema, str):
        primitive = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(min_value=-(2**31), max_value=2**31 - 1),
            "long": st.integers(min_value=-(2**63), max_value=2**63 - 1),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "bytes": st.binary(max_size=64),
            "string": _TEXT,
        }.get(schema)
        if primitive is not None:
            return primitive
        return datum(named[schema], record, named)
    if isinstance(schema, list):
        return st.one_of([datum(branch, record, named) for branch in schema])
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return TIMESTAMPS
    if kind == "record":
        name = schema["name"].rsplit(".", 1)[-1]
        named[schema["name"]] = schema
        fields = {}
        for f in schema["fields"]:
            key = f"{name}.{f['name']}"
            fields[f["name"]] = OVERRIDES[key] if key in OVERRIDES else datum(f["type"], name, named)
        return st.fixed_dictionaries(fields)
    if kind == "enum":
        named[schema["name"]] = schema
        named[f"io.facegate.v1.{schema['name']}"] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(datum(schema["items"], record, named), max_size=5)
    if kind == "map":
        return st.dictionaries(_TEXT, datum(schema["values"], record, named), max_size=5)
    return datum(kind, record, named)
