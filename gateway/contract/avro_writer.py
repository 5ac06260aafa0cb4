"""Avro binary writers compiled from a record's schema, remembering each field's recent values.

cavro (C) walks a record's schema for every datum it writes, about 300 ns per string field:
12 µs for the 31-field audit record, which the worker writes once per capture. But most of a
decision's values repeat from one decision to the next (the tenant, camera, site, policy and
pack, a rule set's legal sources, the enums), and Avro writes a record as its fields' encodings
one after another. So a record's writer here is one generated function with a line per field,
and each field keeps the encodings of its last values (up to `MEMO_SIZE`): a repeated value
costs a dictionary lookup (bench/PROFILES.md "The records written from remembered fields").

It writes exactly what cavro writes (tests hold the two to the same bytes over every record
type), for the types the contract's per-capture records use: null unions, strings, bytes,
booleans, ints, longs, timestamp-millis, enums and arrays of strings. Anything else makes
`compile_writer` return None, and a value it does not handle as cavro would (a naive time, an
int out of range, a wrong type) makes the writer raise, never write other bytes: the codec then
lets cavro write or refuse it. Bytes are not remembered (a protected template is no key to keep).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Writer = Callable[[Mapping[str, Any]], bytes]

MEMO_SIZE = 1024  # per field; a field whose values seldom repeat (an event id) empties it now and then
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_LONG = 1 << 63
_INT = 1 << 31


def zigzag(n: int, bound: int = _LONG) -> bytes:
    """An Avro int or long: zigzag, then a base-128 varint. Raises outside [-bound, bound)."""
    if type(n) is not int or not -bound <= n < bound:
        raise TypeError("not an int in range")  # bool, numpy's ints and huge ones: cavro decides
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_LENGTHS = tuple(zigzag(n) for n in range(1024))  # the prefix of a string up to 1 KiB, looked up


def string(value: str) -> bytes:
    data = value.encode()
    n = len(data)
    return (_LENGTHS[n] if n < 1024 else zigzag(n)) + data


def _bytes(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise TypeError("not bytes")
    return zigzag(len(value)) + value


def _boolean(value: bool) -> bytes:
    if type(value) is not bool:
        raise TypeError("not a bool")
    return b"\x01" if value else b"\x00"


def _timestamp_millis(value: datetime) -> bytes:
    if value.tzinfo is None:  # what a naive time means is cavro's to say
        raise TypeError("naive datetime")
    return zigzag((value - _EPOCH) // _MS)


def _remembered(memo: dict[Any, bytes], key: Any, encoded: bytes) -> bytes:
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[key] = encoded
    return encoded


def _strings(memo: dict[Any, bytes], value: list[str] | tuple[str, ...]) -> bytes:
    if type(value) is not list and type(value) is not tuple:
        raise TypeError("not a list")  # checked before the lookup: a string is a sequence too
    key = tuple(value)
    encoded = memo.get(key)
    if encoded is None:
        body = zigzag(len(value)) + b"".join(map(string, value)) if value else b""
        encoded = _remembered(memo, key, body + b"\x00")
    return encoded


def compile_writer(schema: Mapping[str, Any]) -> Writer | None:
    """A writer of the record `schema` (its named types defined inline, as the contract composes
    them), or None if it has a field of a type not handled here."""
    named: dict[str, Mapping[str, Any]] = {}
    env: dict[str, Any] = {
        "string": string, "zigzag": zigzag, "_bytes": _bytes, "_boolean": _boolean, "_INT": _INT,
        "_timestamp_millis": _timestamp_millis, "_strings": _strings, "_remembered": _remembered,
    }  # fmt: skip
    lines, parts = ["def write(d):"], []
    for i, field in enumerate(schema["fields"]):
        kind, optional = field["type"], False
        if isinstance(kind, list):
            if len(kind) != 2 or kind[0] != "null":
                return None
            kind, optional = kind[1], True
        expression = _expression(kind, f"v{i}", f"m{i}", named, env)
        if expression is None:
            return None
        lines.append(f"    v{i} = d[{field['name']!r}]")
        if optional:
            expression = f"b'\\x00' if v{i} is None else b'\\x02' + {expression}"
        lines.append(f"    p{i} = {expression}")
        parts.append(f"p{i}")
    lines.append(f"    return b''.join(({''.join(part + ', ' for part in parts)}))")  # a tuple, even of none
    exec("\n".join(lines), env)  # noqa: S102 (source built above from the schema's field names and types)
    writer: Writer = env["write"]
    return writer


def _expression(
    kind: Any, value: str, memo: str, named: dict[str, Mapping[str, Any]], env: dict[str, Any]
) -> str | None:
    """Python for one field's encoding (`value` names its value, `memo` its remembered encodings)."""
    if isinstance(kind, str) and kind.rsplit(".", 1)[-1] in named:  # a named type defined before
        kind = named[kind.rsplit(".", 1)[-1]]
    if isinstance(kind, Mapping) and kind.get("type") == "enum":
        named[kind["name"].rsplit(".", 1)[-1]] = kind
        env[memo] = {symbol: zigzag(index) for index, symbol in enumerate(kind["symbols"])}
        return f"{memo}[{value}]"  # a symbol (or a StrEnum of it) or KeyError
    env[memo] = {}
    remembered = f"({memo}.get({{key}}) or _remembered({memo}, {{key}}, {{encode}}))"
    if kind == "string":
        return remembered.format(key=value, encode=f"string({value})")
    if kind == "bytes":
        return f"_bytes({value})"
    if kind == "boolean":
        return f"_boolean({value})"
    if kind == "int":
        return f"zigzag({value}, _INT)"
    if kind == "long":
        return f"zigzag({value})"
    if isinstance(kind, Mapping) and kind.get("type") == "long" and kind.get("logicalType") == "timestamp-millis":
        return remembered.format(key=value, encode=f"_timestamp_millis({value})")
    if isinstance(kind, Mapping) and kind.get("type") == "array" and kind.get("items") == "string":
        return f"_strings({memo}, {value})"
    return None
