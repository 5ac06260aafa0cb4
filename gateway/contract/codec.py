"""Avro single-object encoding: C3 01, the writer schema's CRC-64-AVRO fingerprint, the datum.

Decoding checks everything before it returns: the marker, a known fingerprint, a datum
that is complete with nothing after it, and the model's own constraints (`decode_fields` and
`leading_strings`, which read back the gateway's own logs fast, check less: see there). Every failure
is one DecodeError with a stable code; its message names the problem and never echoes the
payload (which may be a face template). Nor does it carry the library's error that does: each is
raised after the `except` clause that caught that one, so it is not its __context__ (`from None`
only hides a context from tracebacks; pydantic's error holds all of an oversized template).
fastavro reads; cavro writes the same bytes 1.7x faster than fastavro (bench/codec.py: the audit
record is most of what the worker encodes). It only ever writes records the gateway built, so
input that may be hostile never reaches it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

import cavro
import fastavro
from pydantic import ValidationError

from gateway.contract.history import released_schema_sets
from gateway.contract.models import RECORD_MODELS, AvroRecord
from gateway.contract.schemas import RecordSchema, SchemaSet
from gateway.errors import FaceGateError

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8

R = TypeVar("R", bound=AvroRecord)


class DecodeErrorCode(StrEnum):
    TOO_SHORT = "TOO_SHORT"
    BAD_MARKER = "BAD_MARKER"
    UNKNOWN_FINGERPRINT = "UNKNOWN_FINGERPRINT"
    WRONG_RECORD_TYPE = "WRONG_RECORD_TYPE"
    TRUNCATED = "TRUNCATED"
    CORRUPT = "CORRUPT"
    TRAILING_BYTES = "TRAILING_BYTES"
    INVALID_FIELD = "INVALID_FIELD"


class DecodeError(FaceGateError, ValueError):
    """Bytes that are not a valid contract record. `code` is stable; the text is for people."""

    def __init__(self, code: DecodeErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class EncodeError(FaceGateError, ValueError):
    """A record that does not fit its schema."""


# cavro's default timestamp-millis encoding goes through float seconds and can write one
# millisecond less (16.377 s as 16,376 ms); its alternate encoding writes what fastavro writes.
WRITING_OPTIONS = cavro.DEFAULT_OPTIONS.replace(alternate_timestamp_millis_encoding=True)


@dataclass(frozen=True)
class _Reader:
    writer: RecordSchema
    reader: RecordSchema

    @property
    def resolves(self) -> bool:
        return self.writer.fingerprint != self.reader.fingerprint


DESCRIBED_ERRORS = 10  # validation errors named, the rest counted: one per bad list item grows with the list


def _describe_validation(exc: ValidationError) -> str:
    # include_input=False: pydantic would otherwise quote the offending value.
    errors = exc.errors(include_input=False, include_url=False)
    parts = []
    for err in errors[:DESCRIBED_ERRORS]:
        where = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    if len(errors) > DESCRIBED_ERRORS:
        parts.append(f"and {len(errors) - DESCRIBED_ERRORS} more")
    return "; ".join(parts)


class Codec:
    """Encodes with the current contract; decodes anything written with it or a released version."""

    def __init__(self, current: SchemaSet, history: Iterable[SchemaSet] = ()) -> None:
        self.current = current
        readers: dict[bytes, _Reader] = {}
        for older in history:
            for record in older:
                if record.name in current.records:
                    readers[record.fingerprint] = _Reader(record, current[record.name])
        for record in current:
            readers[record.fingerprint] = _Reader(record, record)
        self._projections: dict[tuple[bytes, frozenset[str]], Any] = {}
        self._leading: dict[tuple[bytes, tuple[str, ...]], bool] = {}  # does the writer's schema begin so
        self._readers: Mapping[bytes, _Reader] = readers
        self._writers = {record.name: cavro.Schema(record.schema, options=WRITING_OPTIONS) for record in current}

    # -- encoding -------------------------------------------------------------------
    def encode(self, record: AvroRecord) -> bytes:
        return self.encode_datum(record.avro_name, record.to_avro())

    def encode_datum(self, name: str, datum: Mapping[str, Any]) -> bytes:
        schema = self.current[name]
        try:
            body: bytes = self._writers[name].binary_encode(datum if type(datum) is dict else dict(datum))
        except (cavro.CavroException, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            kind = type(exc).__name__
        else:
            return MARKER + schema.fingerprint + body
        raise EncodeError(f"{name}: {kind} while encoding")

    # -- decoding -------------------------------------------------------------------
    def _reader(self, data: bytes) -> _Reader:
        """How to read a payload, from its header (raises DecodeError)."""
        if len(data) < HEADER_SIZE:
            raise DecodeError(
                DecodeErrorCode.TOO_SHORT,
                f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte single-object header",
            )
        if data[:2] != MARKER:
            raise DecodeError(
                DecodeErrorCode.BAD_MARKER,
                "not Avro single-object encoding (expected marker C3 01)",
            )
        reader = self._readers.get(bytes(data[2:HEADER_SIZE]))
        if reader is None:
            raise DecodeError(
                DecodeErrorCode.UNKNOWN_FINGERPRINT,
                f"schema fingerprint {bytes(data[2:HEADER_SIZE]).hex()} is not in the contract",
            )
        return reader

    def decode_datum(self, data: bytes, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Decode to (record name, Avro datum) without model validation."""
        reader = self._reader(data)
        name = reader.reader.name
        if expected is not None and name != expected:
            raise DecodeError(DecodeErrorCode.WRONG_RECORD_TYPE, f"expected a {expected} record, got {name}")
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        failure: DecodeError | None = None
        try:
            datum = fastavro.schemaless_reader(
                body, reader.writer.parsed, reader.reader.parsed if reader.resolves else None
            )
        except Exception as exc:  # fastavro raises many types on bad input
            if isinstance(exc, EOFError) or self._is_cut_short(data, reader):
                failure = DecodeError(DecodeErrorCode.TRUNCATED, f"{name} datum ends before its last field")
            else:
                failure = DecodeError(DecodeErrorCode.CORRUPT, f"{name} datum is corrupt ({type(exc).__name__})")
        if failure is not None:
            raise failure
        rest = len(data) - body.tell()
        if rest:
            raise DecodeError(DecodeErrorCode.TRAILING_BYTES, f"{rest} unexpected bytes after the {name} datum")
        if not isinstance(datum, dict):
            raise DecodeError(DecodeErrorCode.CORRUPT, f"{name} datum is not a record")
        return name, datum

    @staticmethod
    def _is_cut_short(data: bytes, reader: _Reader) -> bool:
        # fastavro reports a varint cut at the end as IndexError, like a bad enum index.
        # Zero bytes are valid for every Avro type, so a datum that was only cut short
        # reads on past its end once padded; a corrupt one fails again.
        padded = io.BytesIO(bytes(data) + bytes(32))
        padded.seek(HEADER_SIZE)
        try:
            fastavro.schemaless_reader(padded, reader.writer.parsed, None)
        except EOFError:
            return True
        except Exception:
            return False
        return padded.tell() > len(data)

    def record_name(self, data: bytes) -> str:
        """The record type a payload's header names (raises DecodeError)."""
        return self._reader(data).reader.name

    def decode_fields(self, data: bytes, fields: frozenset[str]) -> dict[str, Any]:
        """Those of `fields` the record has, the others skipped unread and no model validated
        (Avro's types still hold): about twice as fast as `decode_any`, for reading back at
        length what the gateway itself wrote. The values it returns are the whole record's, or
        it raises DecodeError; but fastavro skips a field without checking that its bytes were
        all there, so a payload cut inside the skipped fields at its end can pass unnoticed."""
        reader = self._reader(data)
        key = (reader.writer.fingerprint, fields)
        projection = self._projections.get(key)
        if projection is None:
            kept = [f for f in reader.reader.parsed["fields"] if f["name"] in fields]
            projection = fastavro.parse_schema({**reader.reader.parsed, "fields": kept})
            self._projections[key] = projection
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            datum, readable = fastavro.schemaless_reader(body, reader.writer.parsed, projection), True
        except Exception:  # fastavro raises many types on bad input
            readable = False
        if not readable:
            raise DecodeError(DecodeErrorCode.CORRUPT, f"{reader.reader.name} datum is corrupt")
        if body.tell() != len(data) or not isinstance(datum, dict):
            raise DecodeError(DecodeErrorCode.CORRUPT, f"{reader.reader.name} datum is not one whole record")
        return datum

    def leading_strings(self, data: bytes, names: tuple[str, ...]) -> tuple[str, ...]:
        """The values of the fields `names`, when the writer's schema begins with them, in that
        order, as plain strings (each a zigzag length and UTF-8 bytes), read without anything after
        them: ~1.5 µs where `decode_fields` reads through the whole record. For reading back at
        length what the gateway itself wrote; it raises DecodeError if the schema does not begin
        so (WRONG_RECORD_TYPE) or those bytes are cut or not UTF-8, and does not look at the rest."""
        reader = self._reader(data)
        key = (reader.writer.fingerprint, names)
        begins = self._leading.get(key)
        if begins is None:
            first = [(f["name"], f["type"]) for f in reader.writer.parsed["fields"][: len(names)]]
            begins = self._leading[key] = first == [(name, "string") for name in names]
        if not begins:
            raise DecodeError(
                DecodeErrorCode.WRONG_RECORD_TYPE, f"{reader.reader.name} does not begin with the strings {names}"
            )
        out, at = [], HEADER_SIZE
        for _ in names:
            length, at = _zigzag(data, at)
            if length < 0 or at + length > len(data):
                raise DecodeError(DecodeErrorCode.TRUNCATED, f"{reader.reader.name} datum ends inside a leading string")
            text: str | None
            try:
                text = data[at : at + length].decode()
            except UnicodeDecodeError:  # holds the string's bytes
                text = None
            if text is None:
                raise DecodeError(DecodeErrorCode.CORRUPT, f"{reader.reader.name} has a string that is not UTF-8")
            out.append(text)
            at += length
        return tuple(out)

    def decode(self, data: bytes, model: type[R]) -> R:
        """Decode one record of the given model's type, fully validated."""
        _, datum = self.decode_datum(data, expected=model.avro_name)
        return self._validate(model, datum)

    def decode_any(self, data: bytes) -> AvroRecord:
        name, datum = self.decode_datum(data)
        return self._validate(RECORD_MODELS[name], datum)

    @staticmethod
    def _validate(model: type[R], datum: dict[str, Any]) -> R:
        try:
            return model.model_validate(datum)
        except ValidationError as exc:  # holds the invalid value: a template, however long
            problems = _describe_validation(exc)
        raise DecodeError(DecodeErrorCode.INVALID_FIELD, f"{model.avro_name}: {problems}")


def _zigzag(data: bytes, at: int) -> tuple[int, int]:
    """The Avro long (a zigzag varint) at `at`, and where the bytes after it begin."""
    raw = shift = 0
    while True:
        if at >= len(data):
            raise DecodeError(DecodeErrorCode.TRUNCATED, "datum ends inside a length")
        byte = data[at]
        at += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), at
        shift += 7
        if shift > 63:
            raise DecodeError(DecodeErrorCode.CORRUPT, "a length longer than 64 bits")


@cache
def default_codec() -> Codec:
    """The codec of this installation's contract, reading every released version too."""
    return Codec(SchemaSet.load(), released_schema_sets())
