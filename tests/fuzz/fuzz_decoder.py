"""Coverage-guided fuzzing (atheris) of every input topic: the wire decoder and the decision behind it.

    python tests/fuzz/fuzz_decoder.py -runs=50000

Each input becomes one record on one of the worker's input topics (a vendor's captures, a
tenant's consent, enrollment, share-request or camera topic, also a tenant the production keyring
holds no keys for), with a key the fuzz chooses, and is decided as the worker decides it
(Context.decide_each). Whatever the bytes: decoding raises nothing but a typed DecodeError; the
record ends in at most one decision (exactly one off the camera registry, whose accepted records
are applied without one); no error but a tenant without keys is raised while deciding (any other
is a bug the worker would turn into INTERNAL_ERROR); and a dead letter never carries the input.
A crash or an assertion here is a finding; atheris saves the input that caused it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from gateway.contract.codec import DecodeError, default_codec
    from gateway.contract.models import ConsentRecord, Enrollment, FaceCaptured, ShareRequest
    from gateway.contract.topics import TopicNames
    from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
    from gateway.core.context import Context
    from gateway.core.lifecycle.dispatch import decide_lifecycle
    from gateway.core.messages import InputRecord
    from gateway.core.pipeline import process_batch
    from gateway.core.state import GatewayState
    from gateway.files.calibrations import shipped
    from gateway.files.policies import development_policy
    from gateway.keyring import Keyring

CODEC = default_codec()
NAMES = TopicNames()
STATE = GatewayState(
    keyring=Keyring.generate(["acme", "beta"]),  # production-like: no keys for any other tenant
    fallback_policy=development_policy,
    calibrations=shipped(),
)
NOW = datetime(2026, 11, 26, tzinfo=UTC)
TOPICS = [
    NAMES.captures("lumen"), NAMES.captures("optix"),
    *NAMES.tenant_inputs("acme"), *NAMES.tenant_inputs("ghost"),
]  # fmt: skip
KEYS = [None, b"", b"acme/s1", b"beta/s1", b"ghost/s1", b"acme/", b"/s1", b"c-1", b"acme/s1/x", b"\xff\xfe/\x00"]
# Valid records to mutate from: atheris mutates these seeds' bytes too.
SEEDS = [
    CODEC.encode(
        FaceCaptured(
            event_id="e-1", camera_id="c-1", tenant_id="acme", captured_at=NOW, purpose="SECURITY",
            template=b"\x00\x00\x80\x3f" * 512, template_model="synthetic-512", quality=0.9, occlusion="NONE",
        )
    ),
    CODEC.encode(
        ConsentRecord(
            tenant_id="acme", subject_id="s1", status=ConsentStatus.WITHDRAWN, purposes=[Purpose.SECURITY],
            separate=True, method=ConsentMethod.WRITTEN, notice_version="n-1", granted_at=NOW, withdrawn_at=NOW,
        )
    ),
    CODEC.encode(Enrollment(tenant_id="acme", subject_id="s1", template=b"\x00\x00\x80\x3f" * 512,
                            template_model="synthetic-512")),
    CODEC.encode(
        ShareRequest(
            request_id="r-1", tenant_id="acme", subject_id="s1", recipient_tenant_id="ghost", recipient_region="CN",
            purpose=Purpose.SECURITY, requested_at=NOW,
        )
    ),
]  # fmt: skip


def _lifecycle(records: Sequence[InputRecord], ctx: Context) -> None:
    for record in records:
        decide_lifecycle(record, ctx)


def one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    topic, key, shape, data = TOPICS[data[0] % len(TOPICS)], KEYS[data[1] % len(KEYS)], data[2], data[3:]
    if len(data) > 64 and shape & 1:  # half the time, splice the fuzz into a valid record's header
        data = SEEDS[shape // 2 % len(SEEDS)][:10] + data[10:]
    value = None if shape == 255 else data  # sometimes a tombstone
    with contextlib.suppress(DecodeError):  # the only exception decoding may raise
        CODEC.decode_any(data)
    ctx = Context(STATE, NAMES, {}, lambda p, e: False, NOW, 1)
    capture = NAMES.vendor_of(topic) is not None
    ctx.decide_each(
        [InputRecord(topic, 0, 7, value, 0, key)], lambda rs, c: process_batch(rs, c) if capture else _lifecycle(rs, c)
    )
    result = ctx.result
    assert all(e.startswith("MissingKeyError") for e in result.errors), f"a bug on {topic}: {result.errors}"
    registry = NAMES.kind_of(topic) == "cameras"
    assert len(result.decisions) == 1 or (registry and not result.decisions), f"{len(result.decisions)} on {topic}"
    for output in result.outputs:
        if output.topic == NAMES.rejected and len(data) >= 16:
            assert data not in (output.value or b""), "a dead letter never carries the input"


def seed_corpus(folder: Path) -> None:
    """Start from valid records of every kind on every topic, correctly and wrongly keyed: the
    fuzz then explores decisions, not only the decoder's first bytes."""
    for t in range(len(TOPICS)):
        for k in (2, 3, 4, 7):  # acme/s1, beta/s1, ghost/s1, c-1
            for n, seed in enumerate(SEEDS):
                (folder / f"seed-{t}-{k}-{n}").write_bytes(bytes([t, k, 0]) + seed)
            (folder / f"seed-{t}-{k}-tombstone").write_bytes(bytes([t, k, 255]) + b"x")


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:] if not a.startswith("-") and Path(a).is_dir()]
    for folder in folders:
        if not any(folder.iterdir()):
            seed_corpus(folder)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
