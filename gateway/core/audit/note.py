"""Signed notes (C2SP signed-note, as golang.org/x/mod/sumdb/note writes them), the per-partition
checkpoint (C2SP tlog-checkpoint), the completeness note and the receipt (docs/audit-format.md).

Formats only: parsing is strict, so one body has one encoding and a signature covers exactly
what a reader sees. Judging signatures against keys and their lifetimes is keyset.py's job.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.core.audit.tlog import HASH_SIZE, Code, Finding, Frontier, check_consistency, check_leaves
from gateway.errors import FaceGateError

ED25519 = b"\x01"  # the signed-note signature type byte
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # as sumdb/note's Open
RECEIPT_FORMAT = "facegate-receipt/v1"
RECEIPT_MEMBERS = ("format", "event_id", "partition", "leaf_index", "record", "inclusion_proof", "checkpoint")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")  # \d: any script's digits
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
# How far a signed time may be ahead of the verifier's clock: a note dated later would keep the
# stale check quiet until then (§6, §11).
CLOCK_SKEW = timedelta(minutes=5)
T = TypeVar("T")


class NoteError(FaceGateError, ValueError):
    """Text that is not a well-formed note, checkpoint, completeness note or receipt."""


# -- encodings shared by every body ----------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str, size: int | None = None, canonical: bool = True) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise NoteError("not standard base64") from None
    if (canonical and b64(data) != text) or (size is not None and len(data) != size):
        raise NoteError("not canonical base64" if b64(data) != text else f"not {size} bytes")
    return data


def format_time(at: datetime) -> str:
    """UTC, millisecond precision, one spelling: 2026-11-26T12:00:00.000Z."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    if not _TIME.fullmatch(text):
        raise NoteError("time is not YYYY-MM-DDTHH:MM:SS.mmmZ")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise NoteError("time is not a real date") from None


def parse_decimal(text: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) >= 1 << 63:
        raise NoteError("not a decimal without leading zeros")
    return int(text)


def load_json(text: str | bytes) -> Any:
    """JSON as the Go verifier reads it: a member name given twice, NaN or Infinity is an error
    (json.loads would keep the last, or read them), so one document cannot mean two things."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        data = dict(pairs)
        if len(data) != len(pairs):
            raise NoteError("a member name is repeated")
        return data

    def constant(name: str) -> None:
        raise NoteError(f"{name} is not JSON")

    return json.loads(text, object_pairs_hook=unique, parse_constant=constant)


def json_members(data: object, allowed: Collection[str], required: Collection[str] = ()) -> dict[str, Any]:
    """An object with only `allowed` member names, spelled exactly, and every `required` one."""
    if not isinstance(data, dict):
        raise NoteError("not a JSON object")
    if unknown := sorted(set(data) - set(allowed)):
        raise NoteError(f"unknown member {unknown[0]!r}")
    if missing := sorted(set(required) - set(data)):
        raise NoteError(f"no member {missing[0]!r}")
    return data


# -- keys ------------------------------------------------------------------------------------


def valid_name(name: str) -> bool:
    """A key name as sumdb/note accepts it: non-empty, no Unicode space, no '+'."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> int:
    """sumdb/note's key hash: the first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || key)."""
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4], "big")


def verifier_key(name: str, public_key: bytes) -> str:
    """The note verifier key text: <name>+<key id, 8 hex digits>+<base64(0x01 || public key)>."""
    return f"{name}+{key_id(name, public_key):08x}+{b64(ED25519 + public_key)}"


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The note signer key text, as sumdb/note's NewSigner reads it (test vectors only: it is secret)."""
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = raw_public(private_key.public_key())
    return f"PRIVATE+KEY+{name}+{key_id(name, public):08x}+{b64(ED25519 + seed)}"


def parse_verifier_key(vkey: str) -> tuple[str, int, bytes]:
    """(name, key id, 32-byte Ed25519 public key); the id must be the one the name and key give."""
    parts = vkey.split("+", 2)  # the base64 may hold a "+" too
    if len(parts) != 3 or not valid_name(parts[0]) or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise NoteError("not a verifier key <name>+<8 hex digits>+<base64>")
    encoded = unb64(parts[2], 1 + 32)
    if encoded[:1] != ED25519:
        raise NoteError("not an Ed25519 verifier key")
    if key_id(parts[0], encoded[1:]) != int(parts[1], 16):
        raise NoteError("the key id is not the hash of the name and key")
    return parts[0], int(parts[1], 16), encoded[1:]


# -- signed notes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {b64(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[Signature, ...]

    def encode(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any(c < " " and c != "\n" for c in text):
        raise NoteError("note text holds a control character")


def sign(text: str, name: str, private_key: Ed25519PrivateKey) -> SignedNote:
    _check_text(text)
    if not valid_name(name):
        raise NoteError(f"{name!r} is not a key name")
    kid = key_id(name, raw_public(private_key.public_key()))
    return SignedNote(text, (Signature(name, kid, private_key.sign(text.encode())),))


def cosign(note: SignedNote, name: str, private_key: Ed25519PrivateKey) -> SignedNote:
    return SignedNote(note.text, note.signatures + sign(note.text, name, private_key).signatures)


def parse(data: bytes) -> SignedNote:
    """Split a signed note as sumdb/note's Open does: text up to the last blank line, then signatures."""
    try:
        whole = data.decode()
    except UnicodeDecodeError:
        raise NoteError("a note is UTF-8") from None
    if any(c < " " and c != "\n" for c in whole):
        raise NoteError("a note holds no control character but newline")
    split = whole.rfind("\n\n")
    if split < 0 or not whole.endswith("\n"):
        raise NoteError("no signature block after a blank line")
    lines = whole[split + 2 : -1].split("\n")  # at "\n" only: str.splitlines also splits at U+2028, U+0085...
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError("a note has 1 to 100 signatures")
    return SignedNote(whole[: split + 1], tuple(_signature(line) for line in lines))


def _signature(line: str) -> Signature:
    name, _, encoded = line.removeprefix(SIG_PREFIX).partition(" ")
    if not line.startswith(SIG_PREFIX) or not valid_name(name):
        raise NoteError("a signature line is '\u2014 <name> <base64>'")
    raw = unb64(encoded, canonical=False)  # as sumdb/note, which ignores stray padding bits ...
    if len(encoded) != len(b64(raw)):  # ... but not a padding character too many (Go's decoder refuses it)
        raise NoteError("not standard base64")
    if len(raw) < 5:
        raise NoteError("a signature holds a key id and a signature")
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def signature_valid(text: str, signature: Signature, public_key: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature.signature, text.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


# -- bodies ----------------------------------------------------------------------------------


def partition_origin(log: str, partition: int) -> str:
    return f"{log}/{partition}"


def completeness_origin(log: str) -> str:
    return f"{log}/completeness"


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint of one partition, with one extension line: the signing time."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\ntime {format_time(self.time)}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) != 5 or lines[4] != "" or not lines[0] or not lines[3].startswith("time "):
            raise NoteError("a checkpoint is origin, size, root hash and 'time <time>' lines")
        return cls(lines[0], parse_decimal(lines[1]), unb64(lines[2], HASH_SIZE), parse_time(lines[3][5:]))

    def partition(self, log: str) -> int:
        """Which partition of `log` this checkpoint is for (NoteError if it is not one of log's)."""
        prefix, _, number = self.origin.rpartition("/")
        if prefix != log:
            raise NoteError(f"origin {self.origin!r} is not a partition of {log!r}")
        return parse_decimal(number)


@dataclass(frozen=True)
class Completeness:
    """Every partition's head at one time: a partition that disappears or shrinks is visible."""

    origin: str
    time: datetime
    heads: tuple[tuple[int, bytes], ...]  # (size, root) of partition 0, 1, ...

    def body(self) -> str:
        lines = [self.origin, f"time {format_time(self.time)}", f"partitions {len(self.heads)}"]
        lines += [f"{p} {size} {b64(root)}" for p, (size, root) in enumerate(self.heads)]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Completeness:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[1].startswith("time "):
            raise NoteError("a completeness note is origin, time, partitions and one line per partition")
        if not lines[2].startswith("partitions ") or parse_decimal(lines[2][11:]) != len(lines) - 4:
            raise NoteError("the partition count does not match the partition lines")
        heads = tuple(_head(p, line) for p, line in enumerate(lines[3:-1]))
        if not lines[0] or not heads:
            raise NoteError("a completeness note names its origin and at least one partition")
        return cls(lines[0], parse_time(lines[1][5:]), heads)


def _head(partition: int, line: str) -> tuple[int, bytes]:
    fields = line.split(" ")
    if len(fields) != 3 or fields[0] != str(partition):
        raise NoteError(f"line for partition {partition} is '<partition> <size> <root>'")
    return parse_decimal(fields[1]), unb64(fields[2], HASH_SIZE)


# -- receipts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """Everything needed offline to show one decision is in the signed log."""

    event_id: str
    partition: int
    leaf_index: int
    record: bytes
    inclusion_proof: tuple[bytes, ...]
    checkpoint: bytes  # a signed note

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": RECEIPT_FORMAT,
                "event_id": self.event_id,
                "partition": self.partition,
                "leaf_index": self.leaf_index,
                "record": b64(self.record),
                "inclusion_proof": [b64(h) for h in self.inclusion_proof],
                "checkpoint": self.checkpoint.decode(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Receipt:
        try:
            data = json_members(load_json(text), RECEIPT_MEMBERS, RECEIPT_MEMBERS)
            if data["format"] != RECEIPT_FORMAT:
                raise NoteError(f"not a {RECEIPT_FORMAT} document")
            return cls(
                event_id=typed(data["event_id"], str),
                partition=typed(data["partition"], int),
                leaf_index=typed(data["leaf_index"], int),
                record=unb64(typed(data["record"], str)),
                inclusion_proof=tuple(unb64(typed(h, str), HASH_SIZE) for h in typed(data["inclusion_proof"], list)),
                checkpoint=typed(data["checkpoint"], str).encode(),
            )
        except (ValueError, KeyError, AttributeError) as exc:
            raise NoteError(f"not a receipt: {exc}") from None


def typed(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise NoteError(f"expected {kind.__name__}")
    return value


# -- comparing completeness notes ------------------------------------------------------------


def check_series(
    notes: Sequence[Completeness], now: datetime | None = None, max_age: timedelta | None = None
) -> list[Finding]:
    """Successive completeness notes of one log: no partition may vanish, shrink or fork."""
    findings = []
    for prev, cur in itertools.pairwise(notes):
        if cur.time <= prev.time:
            findings.append(Finding(Code.INCONSISTENT, f"note of {format_time(cur.time)} does not follow the last"))
        for p, head in enumerate(prev.heads):
            if p >= len(cur.heads):
                findings.append(Finding(Code.PARTITION_MISSING, f"partition {p} is gone at {format_time(cur.time)}"))
            elif head[0] >= cur.heads[p][0]:  # growth needs data or a proof; check_partitions sees it
                findings += [
                    Finding(f.code, f"partition {p}: {f.detail}") for f in check_consistency(head, cur.heads[p], [])
                ]
    if now is not None:
        findings += [
            Finding(Code.INCONSISTENT, f"note of {format_time(c.time)} is dated after the time of verification")
            for c in notes
            if c.time > now + CLOCK_SKEW
        ]
    if notes and now is not None and max_age is not None and now - notes[-1].time > max_age:
        findings.append(Finding(Code.STALE, f"the newest completeness note is from {format_time(notes[-1].time)}"))
    return findings


def check_partitions(
    note: Completeness, leaves: Mapping[int, Mapping[int, bytes]], anchors: Mapping[int, Frontier] | None = None
) -> list[Finding]:
    """The log's data against one completeness note: leaf hashes by partition and index."""
    anchors = anchors or {}
    findings = []
    for p, (size, root) in enumerate(note.heads):
        anchor = anchors.get(p)
        if p not in leaves and size > (anchor.size if anchor else 0):
            findings.append(Finding(Code.PARTITION_MISSING, f"partition {p} holds {size} leaves but is gone"))
            continue
        found = check_leaves(leaves.get(p, {}), size, root, anchor)
        findings += [Finding(f.code, f"partition {p}: {f.detail}") for f in found]
    findings += [
        Finding(Code.PARTITION_MISSING, f"partition {p} has records but no line in the note")
        for p in sorted(leaves)
        if p >= len(note.heads)
    ]
    return findings
