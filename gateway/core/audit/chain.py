"""A hash chain per audit partition: SHA-256 over a canonical encoding that includes the
previous record's hash and the sequence number, so deleting, reordering, inserting or
altering a record breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gateway.contract.models import AuditRecord

GENESIS = "0" * 64
_CHAIN_FIELDS = {"seq", "prev_hash", "hash", "signature", "key_id"}


@dataclass(frozen=True)
class ChainHead:
    """Where a partition's chain stands: the next record gets seq + 1 and links to hash."""

    seq: int = -1
    hash: str = GENESIS


def canonical(fields: dict[str, Any], seq: int, prev_hash: str) -> bytes:
    """The bytes a record's hash covers: every content field plus seq and prev_hash, sorted."""
    content = {k: v for k, v in fields.items() if k not in _CHAIN_FIELDS}
    content.update(seq=seq, prev_hash=prev_hash)
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def record_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical(record.model_dump(mode="json"), record.seq, record.prev_hash)).hexdigest()


def append(fields: dict[str, Any], head: ChainHead) -> tuple[AuditRecord, ChainHead]:
    """Link a record's content fields after `head`; returns the record and the new head."""
    seq = head.seq + 1
    content = AuditRecord.model_validate({**fields, "seq": seq, "prev_hash": head.hash, "hash": ""})
    digest = hashlib.sha256(canonical(content.model_dump(mode="json"), seq, head.hash)).hexdigest()
    record = content.model_copy(update={"hash": digest})
    return record, ChainHead(seq, digest)
