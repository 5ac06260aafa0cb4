"""Single-object encoding: every bad payload ends in one typed DecodeError, never a partial record."""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from hypothesis import given
from hypothesis import strategies as st

from gateway.contract.codec import (
    HEADER_SIZE,
    MARKER,
    Codec,
    DecodeError,
    DecodeErrorCode,
    EncodeError,
    default_codec,
)
from gateway.contract.models import AuditRecord, ConsentRecord, FaceCaptured
from gateway.contract.schemas import SchemaSet, default_schema_dir
from tests.support.leaks import LeakFinder, exception_chain
from tests.support.lifecycle import consent
from tests.vectors.audit.generate import current_records, released_records

CODEC = default_codec()
# A template whose bytes are easy to search for in any text.
TEMPLATE = struct.pack("<512f", *[0.0123 + i * 1e-4 for i in range(512)])


def capture(**changes: object) -> FaceCaptured:
    fields: dict[str, object] = dict(
        event_id="evt-1", camera_id="cam-1", tenant_id="acme",
        captured_at=datetime(2026, 11, 26, 8, 0, tzinfo=UTC), purpose="ACCESS_CONTROL",
        template=TEMPLATE, template_model="synthetic-512", quality=0.9, occlusion="NONE",
    )  # fmt: skip
    fields.update(changes)
    return FaceCaptured.model_validate(fields)


PAYLOAD = CODEC.encode(capture(image=b"\xff\xd8\xff\xe0 face crop", age_estimate=31))


def _no_biometrics_in(text: str) -> None:
    assert TEMPLATE[:16].hex() not in text
    assert repr(TEMPLATE[:16])[2:-1] not in text
    assert "face crop" not in text


def _crc64_avro(data: bytes) -> bytes:
    """The Avro specification's reference CRC-64-AVRO, as a test oracle."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def test_header_is_marker_then_little_endian_crc64_fingerprint() -> None:
    schema = CODEC.current["FaceCaptured"]
    assert PAYLOAD[:2] == MARKER == b"\xc3\x01"
    assert PAYLOAD[2:HEADER_SIZE] == schema.fingerprint == _crc64_avro(schema.canonical_form.encode())


def test_canonical_form_follows_the_specification() -> None:
    # The spec reduces {"type": "long", "logicalType": ...} to "long" and drops doc and default.
    # (Apache Avro's Python library keeps {"type":"long"}, so its fingerprints differ from Java's
    # and fastavro's; the contract follows the specification.)
    canonical = CODEC.current["FaceCaptured"].canonical_form
    assert '{"name":"captured_at","type":"long"}' in canonical
    assert "doc" not in canonical and "default" not in canonical and "logicalType" not in canonical


def test_crc64_avro_matches_the_specification_vector() -> None:
    # Avro specification: CRC-64-AVRO of "null" is 0x63dd24e7cc258f8a, written little-endian.
    expected = bytes.fromhex("8a8f25cce724dd63")
    assert _crc64_avro(b'"null"') == expected
    assert bytes.fromhex(fingerprint(to_parsing_canonical_form("null"), "CRC-64-AVRO")) == expected


def test_round_trip_keeps_every_field() -> None:
    decoded = CODEC.decode(PAYLOAD, FaceCaptured)
    assert decoded.template == TEMPLATE and decoded.image == b"\xff\xd8\xff\xe0 face crop"
    assert decoded.age_estimate == 31 and decoded.captured_at == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", DecodeErrorCode.TOO_SHORT),
        (PAYLOAD[:9], DecodeErrorCode.TOO_SHORT),
        (b"\x00\x01" + PAYLOAD[2:], DecodeErrorCode.BAD_MARKER),
        (b'{"event_id": "json is not the contract"}', DecodeErrorCode.BAD_MARKER),
        (MARKER + b"\x00" * 8 + PAYLOAD[HEADER_SIZE:], DecodeErrorCode.UNKNOWN_FINGERPRINT),
        (PAYLOAD[:-1], DecodeErrorCode.TRUNCATED),
        (PAYLOAD + b"\x00", DecodeErrorCode.TRAILING_BYTES),
    ],
    ids=["empty", "short-header", "bad-marker", "json", "unknown-fingerprint", "truncated", "trailing"],
)
def test_each_problem_has_its_code(payload: bytes, code: DecodeErrorCode) -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.decode(payload, FaceCaptured)
    assert caught.value.code is code
    assert str(caught.value).startswith(code.value)
    _no_biometrics_in(str(caught.value))


def test_every_truncation_is_an_error() -> None:
    for cut in range(len(PAYLOAD)):
        with pytest.raises(DecodeError) as caught:
            CODEC.decode(PAYLOAD[:cut], FaceCaptured)
        assert caught.value.code in {DecodeErrorCode.TOO_SHORT, DecodeErrorCode.TRUNCATED}, cut


def test_wrong_record_type_is_named() -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.decode(PAYLOAD, ConsentRecord)
    assert caught.value.code is DecodeErrorCode.WRONG_RECORD_TYPE
    assert "FaceCaptured" in str(caught.value) and "ConsentRecord" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("quality", 1.5), ("quality", float("nan")), ("template", TEMPLATE[:-1]), ("event_id", "")],
)
def test_semantic_violations_name_the_field_not_the_value(field: str, value: object) -> None:
    datum = capture().to_avro() | {field: value}
    payload = CODEC.encode_datum("FaceCaptured", datum)
    with pytest.raises(DecodeError) as caught:
        CODEC.decode(payload, FaceCaptured)
    assert caught.value.code is DecodeErrorCode.INVALID_FIELD
    assert field in str(caught.value)
    _no_biometrics_in(str(caught.value))


def test_no_error_carries_the_payload_in_its_chain() -> None:
    # `raise ... from None` hides the library's error from tracebacks only: it stayed __context__,
    # pydantic's holding all of an oversized template, cavro's quoting the value it could not write.
    oversized = CODEC.encode_datum("FaceCaptured", capture().to_avro() | {"template": TEMPLATE * 8 + b"more"})
    with pytest.raises(DecodeError) as decoding:
        CODEC.decode(oversized, FaceCaptured)
    values = list(struct.unpack("<512f", TEMPLATE))
    with pytest.raises(EncodeError) as encoding:
        CODEC.encode_datum("FaceCaptured", capture().to_avro() | {"image": values})  # a template's values, by mistake
    for caught in (decoding, encoding):
        assert caught.value.__context__ is None
        assert LeakFinder([TEMPLATE]).leaks(exception_chain(caught.value)) == []


@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(payload: bytes) -> None:
    with contextlib.suppress(DecodeError):
        CODEC.decode_any(payload)


@given(st.binary(max_size=2200))
def test_random_body_after_a_valid_header_is_an_error_or_a_whole_record(body: bytes) -> None:
    try:
        record = CODEC.decode(PAYLOAD[:HEADER_SIZE] + body, FaceCaptured)
    except DecodeError as exc:
        _no_biometrics_in(str(exc))
    else:
        assert CODEC.encode(record) == PAYLOAD[:HEADER_SIZE] + body


@given(st.integers(min_value=HEADER_SIZE, max_value=len(PAYLOAD) - 1), st.integers(min_value=1, max_value=255))
def test_corrupted_bytes_are_an_error_or_a_whole_record(position: int, flip: int) -> None:
    corrupted = bytearray(PAYLOAD)
    corrupted[position] ^= flip
    try:
        record = CODEC.decode(bytes(corrupted), FaceCaptured)
    except DecodeError as exc:
        _no_biometrics_in(str(exc))
    else:
        assert isinstance(record, FaceCaptured)


def test_data_written_with_a_released_schema_is_read_with_todays_defaults(tmp_path: Path) -> None:
    # A past release of FaceCaptured without the optional age_estimate field.
    release = tmp_path / "released" / "0.0.1"
    release.mkdir(parents=True)
    for path in default_schema_dir().glob("*.avsc"):
        data = json.loads(path.read_text())
        if data["name"] == "FaceCaptured":
            data["fields"] = [f for f in data["fields"] if f["name"] != "age_estimate"]
        (release / path.name).write_text(json.dumps(data))
    old = SchemaSet.load(release)
    codec = Codec(SchemaSet.load(), [old])
    old_payload = Codec(old).encode_datum(
        "FaceCaptured", {k: v for k, v in capture().to_avro().items() if k != "age_estimate"}
    )
    assert old_payload[2:HEADER_SIZE] != PAYLOAD[2:HEADER_SIZE]
    assert codec.decode(old_payload, FaceCaptured) == capture()
    with pytest.raises(DecodeError) as caught:
        Codec(SchemaSet.load()).decode(old_payload, FaceCaptured)
    assert caught.value.code is DecodeErrorCode.UNKNOWN_FINGERPRINT


FIELDS = frozenset({"event_id", "camera_id", "quality", "not_a_field"})


def _cuts_read_as(read: Callable[[bytes], object], payload: bytes, whole: object) -> list[int]:
    """The lengths at which `read` accepts `payload` cut short; each must read as the `whole` did."""
    passed = []
    for cut in range(len(payload)):
        try:
            got = read(payload[:cut])
        except DecodeError:
            continue
        assert got == whole, cut
        passed.append(cut)
    return passed


def test_decoding_some_fields_gives_what_the_whole_record_says() -> None:
    whole = CODEC.decode_any(PAYLOAD).to_avro()
    assert CODEC.record_name(PAYLOAD) == "FaceCaptured"
    assert CODEC.decode_fields(PAYLOAD, FIELDS) == {k: whole[k] for k in FIELDS if k in whole}


def test_decoding_some_fields_reads_released_schemas_and_never_returns_a_wrong_value(
    tmp_path: Path,
) -> None:
    release = tmp_path / "released" / "0.0.1"
    release.mkdir(parents=True)
    for path in default_schema_dir().glob("*.avsc"):
        data = json.loads(path.read_text())
        if data["name"] == "FaceCaptured":  # quality written before camera_id, age_estimate unknown
            data["fields"] = sorted((f for f in data["fields"] if f["name"] != "age_estimate"), key=lambda f: f["name"])
        (release / path.name).write_text(json.dumps(data))
    old = SchemaSet.load(release)
    codec = Codec(SchemaSet.load(), [old])
    old_payload = Codec(old).encode_datum("FaceCaptured", capture().to_avro())
    assert codec.decode_fields(old_payload, FIELDS) == {"event_id": "evt-1", "camera_id": "cam-1", "quality": 0.9}
    # fastavro skips a field by reading past it without checking the length it got: a payload cut
    # inside the fields skipped at its end may pass, but never with other values than the whole's.
    expected = {"event_id": "evt-1", "camera_id": "cam-1", "quality": 0.9}
    passed = _cuts_read_as(lambda cut: codec.decode_fields(cut, FIELDS), old_payload, expected)
    assert len(passed) < len(b"\x08acme"), "only cuts inside tenant_id, the last field, go unnoticed"
    with pytest.raises(DecodeError):
        codec.decode_fields(old_payload + b"\x00", FIELDS)


def test_leading_strings_are_what_the_whole_record_says_or_an_error() -> None:
    whole = CODEC.decode_any(PAYLOAD).to_avro()
    names = ("event_id", "camera_id", "tenant_id")
    assert CODEC.leading_strings(PAYLOAD, names) == tuple(whole[n] for n in names)
    for other in [("camera_id", "event_id"), ("event_id", "camera_id", "tenant_id", "captured_at")]:
        with pytest.raises(DecodeError) as caught:  # another order; a fourth field that is not a string
            CODEC.leading_strings(PAYLOAD, other)
        assert caught.value.code is DecodeErrorCode.WRONG_RECORD_TYPE
    strings = CODEC.leading_strings(PAYLOAD, names)
    passed = _cuts_read_as(lambda cut: CODEC.leading_strings(cut, names), PAYLOAD, strings)
    assert passed and min(passed) == HEADER_SIZE + sum(1 + len(s.encode()) for s in strings), "the rest is not read"
    at = HEADER_SIZE + 1  # the event id's first byte
    with pytest.raises(DecodeError, match="not UTF-8"):
        CODEC.leading_strings(PAYLOAD[:at] + b"\xff" + PAYLOAD[at + 1 :], names[:1])
    with pytest.raises(DecodeError, match="longer than 64 bits"):
        CODEC.leading_strings(PAYLOAD[:HEADER_SIZE] + b"\xff" * 10 + b"\x00", names[:1])


def test_leading_strings_of_audit_records_of_every_release() -> None:
    for value in [*current_records(0, 5), *released_records(5)[0]]:
        record = CODEC.decode(value, AuditRecord)
        assert CODEC.leading_strings(value, ("audit_id", "event_id")) == (record.audit_id, record.event_id)


def test_a_record_with_many_invalid_fields_is_described_by_its_first_ten_and_a_count() -> None:
    """A decode error's text becomes a dead letter's reason: one message per bad list item made a
    20 KB consent a 1.2 MB dead letter, which Kafka refused."""
    datum = {**consent().to_avro(), "recipients": [""] * 16}
    with pytest.raises(DecodeError) as caught:
        CODEC.decode(CODEC.encode_datum("ConsentRecord", datum), ConsentRecord)
    detail = caught.value.detail
    assert "recipients.9:" in detail and "recipients.10" not in detail and detail.endswith("; and 6 more")
