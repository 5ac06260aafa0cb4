"""The v0 form of an audit record: the bytes the 0.1.0 hash chain covers (docs/audit-format.md).

v0 is chain.py's `canonical` over the record's fields as its writer knew them. Decoding with
today's reader schema adds fields the writer never had (reference_database, use_started_at,
...: null by default), and those would change the bytes, so the fields are cut back to the
writer schema named by the record's fingerprint before `canonical` sees them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache

from gateway.contract.codec import HEADER_SIZE, MARKER, Codec, DecodeError, DecodeErrorCode, default_codec
from gateway.contract.history import released_dirs, released_schema_sets
from gateway.contract.models import AuditRecord
from gateway.contract.schemas import SchemaSet
from gateway.core.audit.chain import GENESIS, canonical
from gateway.core.audit.tlog import Code, Finding


@cache
def writer_fields() -> dict[bytes, frozenset[str]]:
    """AuditRecord's field names in every schema version a record may be written with, by fingerprint."""
    fields: dict[bytes, frozenset[str]] = {}
    for schemas in (*released_schema_sets(), SchemaSet.load()):
        if "AuditRecord" in schemas.records:
            record = schemas["AuditRecord"]
            fields[record.fingerprint] = frozenset(f["name"] for f in record.fields())
    return fields


def released_versions() -> list[str]:
    return [d.name for d in released_dirs()]


def audit_writer_schemas() -> list[dict[str, object]]:
    """AuditRecord and AuditCheckpoint as every release and today write them, composed, with their
    fingerprints: what an independent verifier needs (`facegate audit schemas`, verifier -schemas)."""
    out: list[dict[str, object]] = []
    seen: set[bytes] = set()
    versions = [*zip(released_versions(), released_schema_sets(), strict=True), ("current", SchemaSet.load())]
    for version, schemas in versions:
        for name in ("AuditRecord", "AuditCheckpoint"):
            if name in schemas.records and schemas[name].fingerprint not in seen:
                seen.add(schemas[name].fingerprint)
                record = schemas[name]
                out.append({"version": version, "name": name, "fingerprint": record.fingerprint.hex(),
                            "schema": record.schema})  # fmt: skip
    return out


def decode(value: bytes, codec: Codec | None = None) -> tuple[AuditRecord, bytes]:
    """The record and its v0 bytes (raises DecodeError for anything but a known AuditRecord)."""
    record = (codec or default_codec()).decode(value, AuditRecord)
    known = writer_fields().get(bytes(value[len(MARKER) : HEADER_SIZE]))
    if known is None:
        raise DecodeError(DecodeErrorCode.UNKNOWN_FINGERPRINT, "not an AuditRecord schema of this contract")
    fields = {k: v for k, v in record.model_dump(mode="json").items() if k in known}
    return record, canonical(fields, record.seq, record.prev_hash)


def v0_leaf(value: bytes, codec: Codec | None = None) -> bytes:
    return decode(value, codec)[1]


def v0_hash(value: bytes, codec: Codec | None = None) -> str:
    """What the record's `hash` field must hold: hex SHA-256 of its v0 bytes (no RFC 6962 prefix)."""
    return hashlib.sha256(v0_leaf(value, codec)).hexdigest()


def check_chain(values: Iterable[bytes], codec: Codec | None = None) -> list[Finding]:
    """One partition's AuditRecords in log order, checked as 0.1.0 did: hashes, seq and links."""
    findings: list[Finding] = []
    previous: tuple[int, str] | None = None
    ended = False  # a writer that stopped chaining writes an empty hash from then on
    for position, value in enumerate(values):
        try:
            record, leaf = decode(value, codec)
        except DecodeError as exc:
            findings.append(Finding(Code.MALFORMED, f"record {position}: {exc.code}"))
            continue
        if ended or not record.hash:
            if record.hash:
                findings.append(Finding(Code.TAMPERED_RECORD, f"seq {record.seq}: a v0 hash after the chain ended"))
            ended = True
            continue
        if hashlib.sha256(leaf).hexdigest() != record.hash:
            findings.append(Finding(Code.TAMPERED_RECORD, f"seq {record.seq}: content does not match its hash"))
        findings += _link(previous, record)
        previous = (record.seq, record.hash)
    return findings


def _link(previous: tuple[int, str] | None, record: AuditRecord) -> list[Finding]:
    if previous is None:  # the first record kept: the broker may have deleted those before it
        if record.seq == 0 and record.prev_hash == GENESIS:
            return []
        if record.seq > 0:
            return [Finding(Code.PRUNED, f"the chain starts at seq {record.seq}")]
        return [Finding(Code.TAMPERED_RECORD, "seq 0 does not link to the genesis hash")]
    seq, head = previous
    if record.seq > seq + 1:
        return [Finding(Code.MISSING_LEAVES, f"seq {record.seq} follows seq {seq}")]
    if record.seq != seq + 1 or record.prev_hash != head:
        return [Finding(Code.TAMPERED_RECORD, f"seq {record.seq} does not link to seq {seq}")]
    return []
