"""Which lifecycle step decides a record, and when a refusal is decided again."""

from __future__ import annotations

from gateway.contract.models import AuditRecord, RejectedEvent
from gateway.contract.vocabulary import Decision
from gateway.core.lifecycle.dispatch import decide_lifecycle, worth_redoing
from gateway.core.messages import InputRecord
from tests.support.core import CODEC, NAMES, NOW, context, key_of
from tests.support.lifecycle import T0, consent, enrollment, give, new_state, on


def lifecycle_record(topic: str, value: bytes | None, key: bytes | None = None) -> InputRecord:
    return InputRecord(topic, 1, 5, value, int(NOW.timestamp() * 1000), key or key_of(value))


def test_each_topic_goes_to_its_step() -> None:
    state = new_state()
    give(state, consent("s1"))
    ctx = context(state)
    decide_lifecycle(lifecycle_record(NAMES.enroll("acme"), CODEC.encode(enrollment("s1"))), ctx)
    assert [o.key for o in on(ctx.result, NAMES.enrolled)] == [b"acme/s1"]

    withdrawn = consent("s2", status="WITHDRAWN", withdrawn_at=T0)
    ctx = context(state)
    decide_lifecycle(lifecycle_record(NAMES.consent("acme"), CODEC.encode(withdrawn), b"acme/s2"), ctx)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]
    assert audit.decision is Decision.ERASED
    assert state.consent("acme", "s2") is not None, "a withdrawal binds before its audit record exists"


def test_a_record_from_a_topic_without_a_step_is_rejected_not_dropped() -> None:
    ctx = context(new_state())
    decide_lifecycle(lifecycle_record(NAMES.governed("acme"), b"\x00", b"acme/s1"), ctx)
    [dead] = [CODEC.decode(o.value or b"", RejectedEvent) for o in on(ctx.result, NAMES.rejected)]
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]
    assert dead.reason_code == "UNKNOWN_TOPIC" and audit.decision is Decision.REJECTED


def test_only_a_refused_enrollment_or_share_is_worth_redoing() -> None:
    state = new_state()
    refused = lifecycle_record(NAMES.enroll("acme"), CODEC.encode(enrollment("nobody")))
    ctx = context(state)
    decide_lifecycle(refused, ctx)
    assert worth_redoing(refused, ctx), "its consent may have been written just before it"

    give(state, consent("s1"))
    accepted = lifecycle_record(NAMES.enroll("acme"), CODEC.encode(enrollment("s1")))
    ctx = context(state)
    decide_lifecycle(accepted, ctx)
    assert not worth_redoing(accepted, ctx)

    deleted = lifecycle_record(NAMES.consent("acme"), None, b"acme/s9")  # a tombstone: an erasure, needs nothing else
    ctx = context(state)
    decide_lifecycle(deleted, ctx)
    assert not worth_redoing(deleted, ctx)
