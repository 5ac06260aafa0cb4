"""The Avro contract as a producer needs it: schemas, fingerprints and single-object encoding.

The schemas are the repository's schemas/*.avsc (packaged into the wheel when it is built; an
editable install reads them in place). Named types such as the Purpose enum live in files of
their own and records refer to them by full name. A record's writer schema is made
self-contained by writing each named type out in full where it is first used, in field order,
and by its full name wherever it is used again. Its identity on the wire is the CRC-64-AVRO
fingerprint of that schema's Parsing Canonical Form (Avro specification), written
little-endian after the marker C3 01: Avro single-object encoding, as Apache Avro's Java
`toByteBuffer()` writes it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.schema import to_parsing_canonical_form

from facegate_sdk.errors import ContractError, EncodeError

NAMESPACE = "io.facegate.v1"
MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8

# What the SDK's producer sends: vendors' records, then tenants'.
PRODUCED: tuple[str, ...] = ("FaceCaptured", "CameraRegistration", "ConsentRecord", "Enrollment", "ShareRequest")

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class Record(Protocol):
    """Anything the encoder can write: the SDK's records, or any object with the same two members."""

    @property
    def avro_name(self) -> str: ...

    def to_avro(self) -> Mapping[str, Any]: ...


def schema_dir() -> Path:
    """The schemas packaged in the wheel, else those of the checkout an editable install runs from."""
    packaged = Path(__file__).resolve().parent / "schemas"
    if any(packaged.glob("*.avsc")):
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "schemas"
    if any(checkout.glob("*.avsc")):
        return checkout
    raise ContractError(f"no contract schemas in {packaged} or {checkout}")


# -- CRC-64-AVRO ------------------------------------------------------------------------------
_EMPTY = 0xC15D213AA4D7A795  # the Avro specification's fingerprint of the empty input


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE = _crc_table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint the Avro specification defines (CRC-64-AVRO)."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint(canonical_form: str) -> bytes:
    """The 8 bytes single-object encoding writes: CRC-64-AVRO of the canonical form, little-endian."""
    return crc64_avro(canonical_form.encode("utf-8")).to_bytes(8, "little")


# -- schemas ----------------------------------------------------------------------------------
def _full_name(name: str, namespace: str | None) -> str:
    return name if "." in name else f"{namespace or NAMESPACE}.{name}"


class _Writer:
    """Makes one record's schema self-contained: a named type in full at its first use only."""

    def __init__(self, named: Mapping[str, dict[str, Any]]) -> None:
        self.named = named
        self.defined: set[str] = set()

    def expand(self, schema: Any) -> Any:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return schema
            full = _full_name(schema, None)
            if full in self.defined:
                return full
            if full not in self.named:
                raise ContractError(f"the contract names an unknown type {schema!r}")
            return self.expand(self.named[full])
        if isinstance(schema, list):  # a union
            return [self.expand(branch) for branch in schema]
        if not isinstance(schema, dict):
            raise ContractError(f"not an Avro schema: {schema!r}")
        kind = schema.get("type")
        if kind == "record":
            self.defined.add(_full_name(str(schema["name"]), schema.get("namespace")))
            fields = [{**f, "type": self.expand(f["type"])} for f in schema["fields"]]
            return {**schema, "fields": fields}
        if kind in ("enum", "fixed"):
            self.defined.add(_full_name(str(schema["name"]), schema.get("namespace")))
            return dict(schema)
        if kind == "array":
            return {**schema, "items": self.expand(schema["items"])}
        if kind == "map":
            return {**schema, "values": self.expand(schema["values"])}
        if kind in _PRIMITIVES:
            return dict(schema)  # with a logical type, e.g. timestamp-millis
        if kind is not None:
            return {**schema, "type": self.expand(kind)}
        raise ContractError(f"not an Avro schema: {schema!r}")


@dataclass(frozen=True)
class RecordSchema:
    """One record's self-contained writer schema and its single-object identity."""

    name: str
    schema: dict[str, Any] = field(repr=False)
    canonical_form: str = field(repr=False)
    fingerprint: bytes
    parsed: Any = field(repr=False, compare=False)

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}.{self.name}"

    @property
    def header(self) -> bytes:
        return MARKER + self.fingerprint


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ContractError(f"{path.name}: {exc}") from None
    if not isinstance(data, dict) or "name" not in data:
        raise ContractError(f"{path.name}: not a named Avro schema")
    return data


class Contract:
    """The records of one contract version, by short name, with their encoder."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or schema_dir()
        named = {}
        for path in sorted(self.directory.glob("*.avsc")):
            data = _load(path)
            named[_full_name(str(data["name"]), data.get("namespace"))] = data
        if not named:
            raise ContractError(f"no *.avsc files in {self.directory}")
        self._named: Mapping[str, dict[str, Any]] = named
        records = {}
        for full, data in named.items():
            if data.get("type") == "record":
                composed = _Writer(named).expand(data)
                canonical = to_parsing_canonical_form(composed)
                records[full.rsplit(".", 1)[1]] = RecordSchema(
                    name=full.rsplit(".", 1)[1],
                    schema=composed,
                    canonical_form=canonical,
                    fingerprint=fingerprint(canonical),
                    parsed=fastavro.parse_schema(composed),
                )
        self.records: Mapping[str, RecordSchema] = records
        self._by_fingerprint = {r.fingerprint: r for r in records.values()}

    def __getitem__(self, name: str) -> RecordSchema:
        try:
            return self.records[name]
        except KeyError:
            raise ContractError(f"{name} is not a record of the contract") from None

    def __iter__(self) -> Iterator[RecordSchema]:
        return iter(self.records.values())

    def symbols(self, enum: str) -> tuple[str, ...]:
        """An enum's symbols, as the schema lists them."""
        data = self._named.get(_full_name(enum, None))
        if data is None or data.get("type") != "enum":
            raise ContractError(f"{enum} is not an enum of the contract")
        return tuple(data["symbols"])

    def enum_default(self, enum: str) -> str | None:
        """The symbol a reader substitutes for one it does not know (never one to write)."""
        self.symbols(enum)
        default = self._named[_full_name(enum, None)].get("default")
        return None if default is None else str(default)

    # -- single-object encoding ---------------------------------------------------------------
    def encode(self, record: Record) -> bytes:
        return self.encode_datum(record.avro_name, record.to_avro())

    def encode_datum(self, name: str, datum: Mapping[str, Any]) -> bytes:
        schema = self[name]
        out = io.BytesIO()
        out.write(schema.header)
        try:
            fastavro.schemaless_writer(out, schema.parsed, dict(datum), strict=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            # The message may quote a value (a template): name the record and the error kind only,
            # raised after this clause, so that the error is not kept as its __context__ either.
            kind = type(exc).__name__
        else:
            return out.getvalue()
        raise EncodeError(f"{name} does not fit its schema ({kind})")

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(record name, datum) of a single-object encoded record of this contract."""
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise ContractError("not Avro single-object encoding (C3 01 and an 8-byte fingerprint)")
        schema = self._by_fingerprint.get(bytes(data[2:HEADER_SIZE]))
        if schema is None:
            raise ContractError(f"fingerprint {bytes(data[2:HEADER_SIZE]).hex()} is not in this contract")
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            datum, readable = fastavro.schemaless_reader(body, schema.parsed, None), True
        except Exception:  # fastavro raises many kinds on bad input (raised after: not its __context__)
            readable = False
        if not readable:
            raise ContractError(f"corrupt {schema.name} datum")
        if body.tell() != len(data) or not isinstance(datum, dict):
            raise ContractError(f"{schema.name}: bytes after the datum")
        return schema.name, datum


@cache
def default_contract() -> Contract:
    return Contract()
