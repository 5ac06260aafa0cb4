"""The compiled writers (gateway/contract/avro_writer.py) write cavro's bytes, or raise."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import cavro
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.contract.avro_writer import MEMO_SIZE, Writer, compile_writer, zigzag
from gateway.contract.codec import MARKER, WRITING_OPTIONS, Codec, EncodeError, default_codec
from gateway.contract.history import released_dirs, released_schema_sets
from gateway.contract.schemas import RECORD_NAMES, SchemaSet
from gateway.contract.vocabulary import Decision, Purpose
from tests.support.avro_strategies import datum

SCHEMAS = SchemaSet.load()
PER_CAPTURE = ("AuditRecord", "GovernedFace", "RejectedEvent")  # what the decision path writes
COMPILED = [name for name in RECORD_NAMES if compile_writer(SCHEMAS[name].schema) is not None]
CAVRO = {name: cavro.Schema(SCHEMAS[name].schema, options=WRITING_OPTIONS) for name in RECORD_NAMES}
DATA = {name: datum(SCHEMAS[name].schema) for name in RECORD_NAMES}

# Values a field may be given that are not its type, or are at its type's edges.
ODD: list[Any] = [
    None, 0, -1, True, False, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, np.int64(3), 1.5, "", "x", "ACCESS_CONTROL",
    "NOT_A_SYMBOL", b"", b"x", bytearray(b"xy"), ["x"], ("x", "y"), [1], [], "xy", Decision.FORWARDED,
    datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=timezone(timedelta(hours=8))),
    {"x": 1},
]  # fmt: skip


def cavro_bytes(name: str, value: dict[str, Any]) -> bytes:
    written: bytes = CAVRO[name].binary_encode(value)
    return written


def test_the_records_written_per_capture_are_compiled() -> None:
    """Else the decision path pays cavro's time for them again (bench/PROFILES.md)."""
    assert set(PER_CAPTURE) <= set(COMPILED)


def test_the_specifications_zigzag_examples() -> None:
    assert [zigzag(n) for n in (0, -1, 1, -2, 2147483647, -2147483648)] == [
        b"\x00",
        b"\x01",
        b"\x02",
        b"\x03",
        b"\xfe\xff\xff\xff\x0f",
        b"\xff\xff\xff\xff\x0f",
    ]
    assert zigzag(64) == b"\x80\x01"


RELEASED = [
    (path.name, record)
    for path, release in zip(released_dirs(), released_schema_sets(), strict=True)
    for record in release
]


@pytest.mark.parametrize("record", [r for _, r in RELEASED], ids=[f"{version}-{r.name}" for version, r in RELEASED])
@given(data=st.data())
def test_a_released_record_is_written_as_cavro_writes_it_or_left_to_cavro(record: Any, data: st.DataObject) -> None:
    """A codec built on a release (as the evolution tests build one) compiles its own schemas."""
    writer = compile_writer(record.schema)
    if writer is not None:
        values = data.draw(datum(record.schema))
        assert writer(values) == cavro.Schema(record.schema, options=WRITING_OPTIONS).binary_encode(values)


@pytest.mark.parametrize("name", COMPILED)
@given(data=st.data())
def test_a_record_is_written_as_cavro_writes_it_first_and_from_memory(name: str, data: st.DataObject) -> None:
    writer = compile_writer(SCHEMAS[name].schema)
    assert writer is not None
    values = data.draw(DATA[name])
    expected = cavro_bytes(name, values)
    assert writer(values) == expected
    assert writer(values) == expected  # every value now remembered
    assert writer(dict(values)) == expected


@pytest.mark.parametrize("name", COMPILED)
@given(data=st.data())
def test_a_value_it_does_not_write_as_cavro_would_is_refused(name: str, data: st.DataObject) -> None:
    """Any value in any field, after the writer remembered others: cavro's bytes, or an error
    (never other bytes: a string is not taken for a list of its characters, a bool for a long)."""
    writer = compile_writer(SCHEMAS[name].schema)
    assert writer is not None
    before = data.draw(DATA[name])
    writer(before)
    field = data.draw(st.sampled_from([f["name"] for f in SCHEMAS[name].schema["fields"]]))
    for remembered in (["x", "y"], "xy", 1):  # what an odd value could be mistaken for, if remembered
        with contextlib.suppress(Exception):  # not this field's type
            writer({**before, field: remembered})
    odd = {**before, field: data.draw(st.sampled_from([*ODD, *before.values()]))}
    try:
        written = writer(odd)
    except Exception:  # refused: the codec leaves it to cavro
        return
    assert written == cavro_bytes(name, odd)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("policy_version", "p" * 1023),  # the last length in the writer's table
        ("policy_version", "p" * 1024),
        ("policy_version", "\u00a7 \U0001f600 " * 300),  # longer in UTF-8 than in characters
        ("legal_sources", [f"R{n:02}" for n in range(200)]),  # a count of two bytes
        ("legal_sources", ["\u00a7"] * 3),
        ("seq", 2**63 - 1),
        ("seq", 0),
        ("recorded_at", datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)),  # before the epoch
        ("recorded_at", datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)),  # a part of a millisecond
        ("recorded_at", datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)),
        ("event_time", datetime(2026, 1, 2, 11, 4, 5, 678_000, tzinfo=timezone(timedelta(hours=8)))),
        ("decision", Decision.FORWARDED),
        ("purpose", Purpose.SECURITY),
    ],
)
def test_the_edges_of_each_type_are_cavros_bytes(field: str, value: Any) -> None:
    writer = compile_writer(SCHEMAS["AuditRecord"].schema)
    assert writer is not None
    record = {**_audit_record(), field: value}
    assert writer(record) == cavro_bytes("AuditRecord", record)


def test_memory_is_bounded_per_field() -> None:
    writer = compile_writer(SCHEMAS["AuditRecord"].schema)
    assert writer is not None
    base = _audit_record()
    for n in range(3 * MEMO_SIZE):
        record = {**base, "event_id": f"e-{n}", "recorded_at": base["recorded_at"] + timedelta(milliseconds=n)}
        assert writer(record) == cavro_bytes("AuditRecord", record)
    assert max(map(len, _memos(writer))) <= MEMO_SIZE


def test_bytes_are_never_remembered() -> None:
    """A governed event's protected template is written, not kept."""
    writer = compile_writer(SCHEMAS["GovernedFace"].schema)
    assert writer is not None
    template = bytes(range(256)) * 4
    event = {
        "event_id": "e", "audit_id": "a", "tenant_id": "t", "camera_id": "c", "site_id": "s",
        "captured_at": datetime(2026, 1, 2, tzinfo=UTC), "purpose": "SECURITY", "decision": "FORWARDED",
        "pseudonym": "p", "protected_template": template, "template_key_version": 1, "rule_ids": ["R01"],
        "reason_codes": [], "policy_version": "v",
    }  # fmt: skip
    assert writer(event) == cavro_bytes("GovernedFace", event)
    kept = [(key, value) for memo in _memos(writer) for key, value in memo.items()]
    assert kept and not any(template in bytes(value) or key == template for key, value in kept)


def test_a_record_of_no_fields_is_no_bytes() -> None:
    writer = compile_writer({"type": "record", "name": "Empty", "fields": []})
    assert writer is not None and writer({}) == b""


def test_a_schema_with_a_type_it_does_not_write_is_left_to_cavro() -> None:
    assert compile_writer(SCHEMAS["FaceCaptured"].schema) is None  # a float (quality)
    assert (
        compile_writer({"type": "record", "name": "U", "fields": [{"name": "u", "type": ["string", "null"]}]}) is None
    )


def test_the_codec_writes_what_the_writer_refuses_with_cavro_or_refuses_it() -> None:
    codec = default_codec()
    record = {**_audit_record(), "recorded_at": datetime(2026, 1, 2, 3, 4, 5)}  # naive: cavro's to read
    fingerprint = SCHEMAS["AuditRecord"].fingerprint
    assert codec.encode_datum("AuditRecord", record) == MARKER + fingerprint + cavro_bytes("AuditRecord", record)
    with pytest.raises(EncodeError, match="AuditRecord"):
        codec.encode_datum("AuditRecord", {**_audit_record(), "seq": "seven"})
    assert isinstance(codec, Codec)


def _memos(writer: Writer) -> list[dict[Any, bytes]]:
    """The writer's remembered encodings (each field's dict in its generated module's globals)."""
    scope = writer.__globals__
    return [
        value for key, value in scope.items() if key.startswith("m") and key[1:].isdigit() and isinstance(value, dict)
    ]


def _audit_record() -> dict[str, Any]:
    return {
        "audit_id": "a-1", "event_id": "e-1", "tenant_id": "t", "camera_id": "c", "site_id": None,
        "decision": "FORWARDED", "rule_ids": ["R01", "R08"], "reason_codes": [], "legal_sources": ["R01: PIPL Art. 29"],
        "alerts": [], "purpose": "SECURITY", "policy_version": "v1", "consent_ref": None, "consent_method": None,
        "evidence_ref": None, "subject_pseudonym": "p", "match_score_band": "0.9-1.0", "event_time": None,
        "reference_database": None, "use_started_at": None, "use_ended_at": None, "verified_by": None,
        "recipient_tenant_id": None, "pack_id": "pipl-cn", "pack_version": "2025-06-01",
        "recorded_at": datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC), "seq": 7, "prev_hash": "0" * 64,
        "hash": "f" * 64, "signature": None, "key_id": None,
    }  # fmt: skip
