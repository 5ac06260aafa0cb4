"""Signed checkpoints of an audit partition's chain head (Ed25519, the cryptography library).

Signing every record would cost ~28 µs each (a quarter of the ~110 µs the whole decision takes
here), so the worker signs the chain head of each partition at least every second and at
shutdown instead, as Certificate Transparency signs tree heads. A checkpoint covers every record
up to its seq: altering any of them breaks the hash chain up to a signed head.
"""

from __future__ import annotations

import json
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.contract.models import AuditCheckpoint
from gateway.core.audit.chain import ChainHead


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
