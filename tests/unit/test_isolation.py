"""No record stops the gateway: an error deciding one record rejects that record alone, with a
reason and an audit record, and says where it failed, never what the record held."""

from __future__ import annotations

import pytest

from gateway.contract.models import AuditRecord, RejectedEvent
from gateway.contract.vocabulary import Decision
from gateway.core import pipeline
from gateway.core.context import Context
from gateway.core.lifecycle.dispatch import decide_records
from gateway.core.messages import InputRecord
from gateway.core.pipeline import process_batch
from gateway.core.state import GatewayState
from gateway.files.calibrations import shipped
from gateway.keyring import Keyring
from gateway.sdk.scenario import Traffic, build_world
from tests.support.core import CODEC, NAMES, context, loaded_state, raw_records
from tests.support.lifecycle import T0, consent, enrollment, give, new_state, on, policy_for

SECRET = "subject-secret-1234"


def audits(ctx: Context) -> list[AuditRecord]:
    return [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]


def test_an_enrollment_for_a_tenant_without_keys_is_rejected_not_fatal() -> None:
    production = GatewayState(keyring=Keyring.generate(["acme"]), calibrations=shipped())
    production.policies = {**new_state().policies, "ghost": policy_for("ghost")}
    # On the topic of a tenant the production keyring has no keys for (provisioned, keys not yet made).
    give(production, consent(SECRET, tenant_id="ghost", recipients=[]))
    value = CODEC.encode(enrollment(SECRET, tenant="ghost"))
    enrolling = InputRecord(NAMES.enroll("ghost"), 0, 3, value, int(T0.timestamp() * 1000), f"ghost/{SECRET}".encode())
    ctx = context(production)
    ctx.decide_each([enrolling], decide_records)
    [dead] = [CODEC.decode(o.value or b"", RejectedEvent) for o in on(ctx.result, NAMES.rejected)]
    [audit] = audits(ctx)
    assert dead.reason_code == "TENANT_NOT_PROVISIONED" and audit.decision is Decision.REJECTED
    assert ctx.result.errors and "MissingKeyError" in ctx.result.errors[0]
    assert SECRET not in repr(ctx.result.outputs) + " ".join(ctx.result.errors)
    assert not on(ctx.result, NAMES.enrolled)


def test_a_withdrawal_for_a_tenant_without_keys_erases_and_names_no_one() -> None:
    """An erasure never waits on keys: a tenant without them can be told nothing under a pseudonym."""
    production = GatewayState(keyring=Keyring.generate(["acme"]), calibrations=shipped())
    production.policies = new_state().policies
    tombstone = InputRecord(NAMES.consent("ghost"), 0, 3, None, int(T0.timestamp() * 1000), b"ghost/" + SECRET.encode())
    ctx = context(production)
    ctx.decide_each([tombstone], decide_records)
    [audit] = audits(ctx)
    assert audit.decision is Decision.ERASED and not ctx.result.errors and not on(ctx.result, NAMES.erasure("ghost"))
    assert [o.key for o in on(ctx.result, NAMES.enrolled)] == [b"ghost/" + SECRET.encode()]
    assert SECRET not in repr(on(ctx.result, NAMES.audit) + on(ctx.result, NAMES.rejected))  # keyed state aside


def test_an_error_in_one_capture_rejects_it_alone_and_the_batch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(seed=4)
    items = [i for i in Traffic(world, seed=4).take(40) if i.capture][:12]
    records = raw_records(items)
    doomed = items[5].capture
    assert doomed is not None
    screen = pipeline.screen  # type: ignore[attr-defined]

    def failing(capture, *args):  # type: ignore[no-untyped-def]
        if capture.event_id == doomed.event_id:
            raise RuntimeError(f"bug while looking at {SECRET}")
        return screen(capture, *args)

    monkeypatch.setattr(pipeline, "screen", failing)
    ctx = context(loaded_state(world))
    ctx.decide_each(records, process_batch)
    decided = {a.event_id: a for a in audits(ctx)}
    assert len(decided) == len(records), "every record has its one audit record"
    where = records[5]
    rejected = decided[f"undecodable:{where.topic}:{where.partition}:{where.offset}"]  # named by its place
    assert rejected.decision is Decision.REJECTED and rejected.reason_codes == ["INTERNAL_ERROR"]
    assert doomed.event_id not in decided and sum(a.decision is Decision.REJECTED for a in decided.values()) == 1
    [error] = ctx.result.errors
    assert error.startswith("RuntimeError at ") and "failing" in error
    assert SECRET not in repr(ctx.result.outputs) + error
    for partition in {o.partition for o in on(ctx.result, NAMES.audit)}:  # each chain is whole
        seqs = sorted(
            CODEC.decode(o.value or b"", AuditRecord).seq
            for o in on(ctx.result, NAMES.audit)
            if o.partition == partition
        )
        assert seqs == list(range(len(seqs)))
