"""The key set a regulator receives, and the signed documents judged against it.

Each audit signing key appears with its lifetime: a note verifies only under a listed key,
dated (by its own time line) inside that key's validity and before any revocation. The format
is JSON (docs/audit-format.md, "Key set"); loading is strict so two readers never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.contract.codec import DecodeError
from gateway.core.audit import note
from gateway.core.audit.legacy import decode
from gateway.core.audit.note import Checkpoint, Completeness, NoteError, Receipt, SignedNote
from gateway.core.audit.tlog import Code, Finding, leaf_hash, verify_inclusion

KEYSET_FORMAT = "facegate-keyset/v1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_FIELDS = {"name", "key_id", "algorithm", "public_key", "vkey", "valid_from", "valid_until", "revoked_at"}


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def key_id(self) -> int:
        return note.key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        return note.verifier_key(self.name, self.public_key)

    def findings_at(self, at: datetime) -> list[Finding]:
        """Why a signature dated `at` by this key does not count (nothing if it does)."""
        where = f"key {self.key_id:08x} at {note.format_time(at)}"
        if self.revoked_at is not None and at >= self.revoked_at:
            return [Finding(Code.REVOKED_KEY, f"{where}: revoked at {note.format_time(self.revoked_at)}")]
        if at < self.valid_from or (self.valid_until is not None and at >= self.valid_until):
            return [Finding(Code.KEY_OUTSIDE_VALIDITY, f"{where}: outside its validity")]
        return []

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key_id": f"{self.key_id:08x}",
            "algorithm": "ed25519",
            "public_key": note.b64(self.public_key),
            "vkey": self.vkey,
            "valid_from": note.format_time(self.valid_from),
            "valid_until": None if self.valid_until is None else note.format_time(self.valid_until),
            "revoked_at": None if self.revoked_at is None else note.format_time(self.revoked_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], log: str) -> VerifierKey:
        if not isinstance(data, dict) or set(data) - _KEY_FIELDS or data.get("algorithm") != "ed25519":
            raise NoteError("a key is an object of the documented fields, algorithm ed25519")
        if data.get("name") != log:
            raise NoteError(f"a key of log {log!r} is named {log!r}")
        key = cls(log, note.unb64(_text(data, "public_key"), 32), note.parse_time(_text(data, "valid_from")),
                  _time(data.get("valid_until")), _time(data.get("revoked_at")))  # fmt: skip
        if _text(data, "key_id") != f"{key.key_id:08x}" or _text(data, "vkey") != key.vkey:
            raise NoteError(f"key {data.get('key_id')}: key_id and vkey must be those of the name and key")
        if key.valid_until is not None and key.valid_until <= key.valid_from:
            raise NoteError(f"key {key.key_id:08x}: valid_until is not after valid_from")
        return key


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise NoteError(f"{name} is a string")
    return value


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise NoteError("a time is a string or null")
    return note.parse_time(value)


@dataclass(frozen=True)
class KeySet:
    log: str  # the key name, and the prefix of every origin the log signs
    keys: tuple[VerifierKey, ...]

    @classmethod
    def of(cls, log: str, keys: list[tuple[bytes, datetime | None, datetime | None, datetime | None]]) -> KeySet:
        """From (raw public key, valid from, valid until, revoked at); an unknown start is 1970."""
        return cls(log, tuple(VerifierKey(log, public, start or EPOCH, until, revoked)
                              for public, start, until, revoked in keys))  # fmt: skip

    def find(self, name: str, key_id: int) -> VerifierKey | None:
        return next((k for k in self.keys if k.name == name and k.key_id == key_id), None)

    def dump(self) -> str:
        keys = [k.to_json() for k in self.keys]
        return json.dumps({"format": KEYSET_FORMAT, "log": self.log, "keys": keys}, indent=2) + "\n"

    @classmethod
    def load(cls, text: str) -> KeySet:
        """Raises NoteError for anything but a well-formed key set."""
        try:
            data = note.load_json(text)
        except ValueError as exc:
            raise NoteError(f"a key set is JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) != {"format", "log", "keys"} or data["format"] != KEYSET_FORMAT:
            raise NoteError(f"a key set is an object with format {KEYSET_FORMAT!r}, log and keys")
        log, keys = data["log"], data["keys"]
        if not isinstance(log, str) or not note.valid_name(log) or not isinstance(keys, list) or not keys:
            raise NoteError("log is a key name and keys a non-empty list")
        loaded = tuple(VerifierKey.from_json(k, log) for k in keys)
        if len({k.key_id for k in loaded}) != len(loaded):
            raise NoteError("two keys share a key id")
        return cls(log, loaded)


def open_note(data: bytes, keys: KeySet) -> tuple[SignedNote | None, list[VerifierKey], list[Finding]]:
    """The note and the listed keys whose signatures verify, as sumdb/note's Open decides.

    Signatures by keys not in the set are ignored; one bad signature by a listed key rejects
    the note; a note without a listed key's signature is not verified.
    """
    try:
        signed = note.parse(data)
    except NoteError as exc:
        return None, [], [Finding(Code.MALFORMED, str(exc))]
    signers = []
    for signature in signed.signatures:
        key = keys.find(signature.name, signature.key_id)
        if key is None or key in signers:
            continue
        if not note.signature_valid(signed.text, signature, key.public_key):
            return None, [], [Finding(Code.BAD_SIGNATURE, f"key {key.key_id:08x} did not sign this text")]
        signers.append(key)
    if not signers:
        return None, [], [Finding(Code.UNKNOWN_KEY, "no signature by a key of the key set")]
    return signed, signers, []


def check_checkpoint(
    data: bytes, keys: KeySet, partition: int | None = None
) -> tuple[Checkpoint | None, list[Finding]]:
    """A partition's signed checkpoint: signature, key lifetime at its time, origin."""
    signed, signers, findings = open_note(data, keys)
    if signed is None:
        return None, findings
    try:
        checkpoint = Checkpoint.parse(signed.text)
        origin_partition = checkpoint.partition(keys.log)
    except NoteError as exc:
        return None, [Finding(Code.MALFORMED, str(exc))]
    if partition is not None and origin_partition != partition:
        return None, [Finding(Code.MALFORMED, f"a checkpoint of partition {origin_partition}, not {partition}")]
    return checkpoint, [f for key in signers for f in key.findings_at(checkpoint.time)]


def check_completeness(data: bytes, keys: KeySet) -> tuple[Completeness | None, list[Finding]]:
    signed, signers, findings = open_note(data, keys)
    if signed is None:
        return None, findings
    try:
        completeness = Completeness.parse(signed.text)
    except NoteError as exc:
        return None, [Finding(Code.MALFORMED, str(exc))]
    if completeness.origin != note.completeness_origin(keys.log):
        return None, [Finding(Code.MALFORMED, f"origin {completeness.origin!r} is not {keys.log}/completeness")]
    return completeness, [f for key in signers for f in key.findings_at(completeness.time)]


def check_receipt(receipt: Receipt, keys: KeySet) -> list[Finding]:
    """A receipt, offline: its checkpoint is signed, and its record is leaf `leaf_index` under it."""
    checkpoint, findings = check_checkpoint(receipt.checkpoint, keys, receipt.partition)
    if checkpoint is None:
        return findings
    if receipt.leaf_index >= checkpoint.size:
        return [*findings, Finding(Code.MALFORMED, f"leaf {receipt.leaf_index} is beyond size {checkpoint.size}")]
    h = leaf_hash(receipt.record)
    if not verify_inclusion(h, receipt.leaf_index, checkpoint.size, receipt.inclusion_proof, checkpoint.root):
        return [*findings, Finding(Code.TAMPERED_RECORD, "the record and proof do not give the signed root")]
    try:
        record, _ = decode(receipt.record)
    except DecodeError as exc:
        return [*findings, Finding(Code.MALFORMED, f"the record does not decode: {exc.code}")]
    if record.event_id != receipt.event_id or record.seq != receipt.leaf_index:
        return [*findings, Finding(Code.TAMPERED_RECORD, "the record is not this event's at this index")]
    return findings
