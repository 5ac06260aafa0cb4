"""What the atheris harness (tests/fuzz/fuzz_decoder.py) makes of its bytes: one record on one of
the worker's input topics. Shared with the end-to-end hostile-input test, which writes the
harness's corpus to those topics on Apache Kafka."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.contract.codec import default_codec
from gateway.contract.models import ConsentRecord, Enrollment, FaceCaptured, ShareRequest
from gateway.contract.topics import TENANT_INPUTS
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose

UNPROVISIONED = "gamma"  # a tenant the worker reads whose keys the keyring does not hold
NOW = datetime(2026, 11, 26, tzinfo=UTC)
# (kind, owner) of each input topic: two vendors', a tenant's four, and an unprovisioned tenant's four.
TOPICS = [
    ("faces.raw", "lumen"), ("faces.raw", "optix"),
    *((kind, "acme") for kind in TENANT_INPUTS), *((kind, UNPROVISIONED) for kind in TENANT_INPUTS),
]  # fmt: skip
KEYS = [None, b"", b"acme/s1", b"beta/s1", f"{UNPROVISIONED}/s1".encode(), b"acme/", b"/s1", b"c-1", b"acme/s1/x",
        b"\xff\xfe/\x00"]  # fmt: skip
TOMBSTONE = 255
_CODEC = default_codec()
_ONES = b"\x00\x00\x80\x3f" * 512
# Valid records to mutate from: atheris mutates these seeds' bytes too.
SEEDS = [
    _CODEC.encode(
        FaceCaptured(
            event_id="e-1", camera_id="c-1", tenant_id="acme", captured_at=NOW, purpose=Purpose.SECURITY,
            template=_ONES, template_model="synthetic-512", quality=0.9, occlusion="NONE",
        )
    ),
    _CODEC.encode(
        ConsentRecord(
            tenant_id="acme", subject_id="s1", status=ConsentStatus.WITHDRAWN, purposes=[Purpose.SECURITY],
            separate=True, method=ConsentMethod.WRITTEN, notice_version="n-1", granted_at=NOW, withdrawn_at=NOW,
        )
    ),
    _CODEC.encode(Enrollment(tenant_id="acme", subject_id="s1", template=_ONES, template_model="synthetic-512")),
    _CODEC.encode(
        ShareRequest(
            request_id="r-1", tenant_id="acme", subject_id="s1", recipient_tenant_id=UNPROVISIONED,
            recipient_region="CN", purpose=Purpose.SECURITY, requested_at=NOW,
        )
    ),
]  # fmt: skip


def record_of(data: bytes) -> tuple[str, str, bytes | None, bytes | None] | None:
    """(kind, owner, key, value) from fuzz bytes: the first three choose the topic, the key and the
    shape (a tombstone; half the time the rest spliced into a valid record's header)."""
    if len(data) < 3:
        return None
    (kind, owner), key, shape, body = TOPICS[data[0] % len(TOPICS)], KEYS[data[1] % len(KEYS)], data[2], data[3:]
    if len(body) > 64 and shape & 1:
        body = SEEDS[shape // 2 % len(SEEDS)][:10] + body[10:]
    return kind, owner, key, None if shape == TOMBSTONE else body


def seed_corpus(folder: Path) -> None:
    """Valid records of every kind on every topic, correctly and wrongly keyed: the fuzz then
    explores decisions, not only the decoder's first bytes."""
    for t in range(len(TOPICS)):
        for k in (2, 3, 4, 7):  # acme/s1, beta/s1, the unprovisioned tenant's s1, c-1
            for n, seed in enumerate(SEEDS):
                (folder / f"seed-{t}-{k}-{n}").write_bytes(bytes([t, k, 0]) + seed)
            (folder / f"seed-{t}-{k}-tombstone").write_bytes(bytes([t, k, TOMBSTONE]) + b"x")
