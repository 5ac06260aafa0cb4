"""Signed checkpoints of an audit partition (Ed25519, the cryptography library).

Signing every record would cost ~28 µs each (a quarter of the ~110 µs the whole decision takes
here), so the worker signs the head of each partition about every second and at shutdown
instead, as Certificate Transparency signs tree heads. One AuditCheckpoint record carries two
signatures over one head: the v1 checkpoint (a C2SP signed note of the partition's RFC 6962 tree,
with the tree's frontier; docs/audit-format.md §5) and the v0 JSON signature of the hash chain's
head that 0.1.0 tooling checks. The completeness note (§6) travels in an AuditCheckpoint on
partition 0, whose v0 fields repeat partition 0's last signed head.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.contract.models import AuditCheckpoint
from gateway.core.audit import note
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.note import Checkpoint, Completeness
from gateway.core.audit.tlog import Frontier


def checkpoint_message(partition: int, seq: int, head_hash: str, signed_at: datetime, key_id: str) -> bytes:
    millis = int(signed_at.timestamp() * 1000)
    return json.dumps(
        {"partition": partition, "seq": seq, "head_hash": head_hash, "signed_at": millis, "key_id": key_id},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def sign_checkpoint(
    private_key: Ed25519PrivateKey, key_id: str, partition: int, head: ChainHead, at: datetime
) -> AuditCheckpoint:
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # the record keeps milliseconds
    signature = private_key.sign(checkpoint_message(partition, head.seq, head.hash, at, key_id))
    return AuditCheckpoint(
        checkpoint_id=f"k-{partition}-{head.seq}-{int(at.timestamp() * 1000)}",
        audit_partition=partition,
        seq=head.seq,
        head_hash=head.hash,
        signed_at=at,
        key_id=key_id,
        signature=signature,
    )


def _millis(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def signing_time(previous: datetime | None, now: datetime) -> datetime:
    """`now` in milliseconds, but after `previous` (the last time of the same origin): the times of
    one origin's notes must increase even when the clocks of two workers that took turns differ."""
    now = _millis(now)
    return now if previous is None or now > previous else previous + timedelta(milliseconds=1)


def partition_checkpoint(
    private_key: Ed25519PrivateKey, key_id: str, log: str, partition: int, head: ChainHead, tree: Frontier,
    at: datetime,
) -> tuple[AuditCheckpoint, Checkpoint]:  # fmt: skip
    """The record that signs partition `partition` at (head, tree): v0 fields and the v1 note."""
    if tree.size != head.seq + 1:
        raise ValueError(f"partition {partition}: a tree of {tree.size} leaves for a chain ending at seq {head.seq}")
    at = _millis(at)
    body = Checkpoint(note.partition_origin(log, partition), tree.size, tree.root(), at)
    signed = note.sign(body.body(), log, private_key).encode().decode()
    record = sign_checkpoint(private_key, key_id, partition, head, at)
    return record.model_copy(update={"note": signed, "frontier": list(tree.hashes)}), body


def completeness_checkpoint(
    private_key: Ed25519PrivateKey, key_id: str, log: str, heads: list[tuple[int, bytes]], zero: ChainHead,
    at: datetime,
) -> AuditCheckpoint:  # fmt: skip
    """The record on partition 0 carrying the completeness note over every partition's (size, root);
    its v0 fields sign `zero`, partition 0's chain head, so 0.1.0 tooling reads it as a checkpoint."""
    at = _millis(at)
    body = Completeness(note.completeness_origin(log), at, tuple(heads))
    record = sign_checkpoint(private_key, key_id, 0, zero, at)
    return record.model_copy(
        update={"checkpoint_id": f"c-{int(at.timestamp() * 1000)}", "note": note.sign(body.body(), log, private_key)
                .encode().decode()}
    )  # fmt: skip


def checkpoint_is_signed(checkpoint: AuditCheckpoint, public_keys: dict[str, Ed25519PublicKey]) -> bool:
    key = public_keys.get(checkpoint.key_id)
    if key is None:
        return False
    message = checkpoint_message(
        checkpoint.audit_partition,
        checkpoint.seq,
        checkpoint.head_hash,
        checkpoint.signed_at,
        checkpoint.key_id,
    )
    try:
        key.verify(checkpoint.signature, message)
    except InvalidSignature:
        return False
    return True


def public_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_keys(pem_documents: list[bytes]) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id, from PEM files as `facegate audit pubkey` writes them."""
    from gateway.keyring import public_key_id

    keys: dict[str, Ed25519PublicKey] = {}
    for document in pem_documents:
        for block in document.split(b"-----END PUBLIC KEY-----"):
            if b"-----BEGIN PUBLIC KEY-----" not in block:
                continue
            key = serialization.load_pem_public_key(block + b"-----END PUBLIC KEY-----\n")
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("audit keys are Ed25519")
            keys[public_key_id(key)] = key
    return keys
