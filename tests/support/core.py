"""Deciding without Kafka: the constants and the context the core's tests decide in."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision
from gateway.core.audit.chain import ChainHead
from gateway.core.context import Context
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.messages import BatchResult, InputRecord
from gateway.core.pipeline import process_batch
from gateway.core.state import GatewayState, consent_key
from gateway.files.calibrations import shipped
from gateway.files.policies import development_policy
from gateway.keyring import Keyring
from gateway.sdk.scenario import Capture, World

CODEC = default_codec()
NAMES = TopicNames()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def context(
    state: GatewayState,
    *,
    seen: frozenset[str] = frozenset(),
    audit_partitions: int = 4,
    heads: dict[int, ChainHead] | None = None,
    now: datetime = NOW,
) -> Context:
    """A context in which the decisions `seen` (their audit ids) were made before."""
    return Context(state, NAMES, {} if heads is None else heads, lambda p, e: e in seen, now, audit_partitions)


def decide_batch(records: Sequence[InputRecord], state: GatewayState, **options: object) -> BatchResult:
    return process_batch(records, context(state, **options))  # type: ignore[arg-type]


def world_keyring(world: World) -> Keyring:
    master = hashlib.sha256(f"test-keys-{world.seed}".encode()).digest()
    return Keyring.model_validate({"development_master": master})


def loaded_state(world: World, keyring: Keyring | None = None) -> GatewayState:
    """A scenario world's cameras, consents and enrollments, as the worker's feeds would hold them."""
    state = GatewayState(
        keyring=keyring or world_keyring(world), fallback_policy=development_policy, calibrations=shipped()
    )
    for camera in world.cameras:
        state.apply_camera(camera.tenant_id, camera.camera_id, CODEC.encode(camera))
    for consent in world.consents:
        key = consent_key(consent.tenant_id, consent.subject_id)
        state.apply_consent(consent.tenant_id, key, CODEC.encode(consent))
    for offset, e in enumerate(world.enrollments):
        ctx = context(state)
        enroll(InputRecord(NAMES.enroll(e.tenant_id), 0, offset, CODEC.encode(e), key=key_of(CODEC.encode(e))), ctx)
        [audit] = [o for o in ctx.result.outputs if o.topic == NAMES.audit]
        assert CODEC.decode(audit.value or b"", AuditRecord).decision is Decision.ENROLLED, "every one has consent"
        for output in ctx.result.outputs:
            if output.topic == NAMES.enrolled:
                state.apply_enrollment(output.key.decode(), output.value)
    return state


def raw_records(items: list[Capture]) -> list[InputRecord]:
    """Captures on four partitions of their vendors' topics, in turn."""
    return [
        InputRecord(NAMES.captures(c.vendor), i % 4, i // 4, CODEC.encode(c.capture) if c.capture else c.raw)
        for i, c in enumerate(items)
    ]


def key_of(value: bytes | None) -> bytes | None:
    """The key a producer gives a record (docs/vendors.md): tenant_id/subject_id, or the camera's id."""
    try:
        _, datum = CODEC.decode_datum(value or b"")
    except DecodeError:
        return None
    if "subject_id" in datum and "tenant_id" in datum:
        return f"{datum['tenant_id']}/{datum['subject_id']}".encode()
    return str(datum["camera_id"]).encode() if "camera_id" in datum else None
