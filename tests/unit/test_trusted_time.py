"""Times the gateway trusts: producers' clocks are bounded by the broker's append time, retention
counts from when the broker took an enrollment, and a replayed old grant never restores a
consent after a withdrawal, also when the tenant's own topic no longer shows the withdrawal."""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.contract.models import AuditRecord, EnrolledTemplate, RejectedEvent
from gateway.contract.vocabulary import ConsentStatus, Decision
from gateway.core.consent import Consented, check_consent
from gateway.core.lifecycle.dispatch import decide_lifecycle
from gateway.core.messages import InputRecord
from gateway.core.pipeline import process_batch
from gateway.core.policy.decision import consent_terms
from gateway.core.state import GatewayState
from gateway.sdk.scenario import Traffic, build_world
from tests.support.core import CODEC, NAMES, NOW, context, loaded_state
from tests.support.lifecycle import apply, consent, enrollment, new_state, on

APPENDED = NOW - timedelta(minutes=1)


def at(
    topic: str, value: bytes | None, offset: int, key: bytes = b"acme/s1", appended: datetime = APPENDED
) -> InputRecord:
    return InputRecord(topic, 0, offset, value, int(appended.timestamp() * 1000), key)


def lifecycle(state: GatewayState, record: InputRecord) -> list[AuditRecord]:
    ctx = context(state)
    decide_lifecycle(record, ctx)
    apply(state, ctx.result)
    for output in on(ctx.result, NAMES.withdrawals):  # what the feed would read back
        state.apply_withdrawal(output.key.decode(), output.value)
    return [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]


def test_a_capture_dated_after_the_broker_took_it_is_rejected() -> None:
    world = build_world(seed=11)
    item = next(i for i in Traffic(world).take(50) if i.capture)
    assert item.capture is not None
    ahead = item.capture.model_copy(update={"captured_at": APPENDED + timedelta(minutes=6)})
    within = item.capture.model_copy(update={"event_id": "e-within", "captured_at": APPENDED + timedelta(minutes=4)})
    ctx = context(loaded_state(world))
    process_batch(
        [
            at(NAMES.captures("lumen"), CODEC.encode(ahead), 0, b""),
            at(NAMES.captures("lumen"), CODEC.encode(within), 1, b""),
        ],
        ctx,
    )
    audits = {a.event_id: a for a in (CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit))}
    assert audits[ahead.event_id].decision is Decision.REJECTED and audits[ahead.event_id].reason_codes == [
        "TIME_IN_FUTURE"
    ]
    assert audits["e-within"].decision is not Decision.REJECTED, "a clock a little ahead is tolerated"
    [dead] = [CODEC.decode(o.value or b"", RejectedEvent) for o in on(ctx.result, NAMES.rejected)]
    assert dead.event_id == ahead.event_id


def test_retention_counts_from_when_the_broker_took_the_enrollment() -> None:
    state = new_state()
    lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(consent("s1")), 0))
    claimed_later = enrollment("s1").model_copy(update={"enrolled_at": NOW + timedelta(days=3650)})
    ctx = context(state)
    decide_lifecycle(at(NAMES.enroll("acme"), CODEC.encode(claimed_later), 0), ctx)
    [stored] = on(ctx.result, NAMES.enrolled)
    assert CODEC.decode(stored.value or b"", EnrolledTemplate).enrolled_at == APPENDED.replace(microsecond=0)


def test_a_replayed_grant_never_restores_a_consent_after_a_withdrawal() -> None:
    state = new_state()
    granted = consent("s1")
    lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(granted), 0))
    withdrawn = granted.model_copy(update={"status": ConsentStatus.WITHDRAWN, "withdrawn_at": NOW - timedelta(hours=2)})
    [erased] = lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(withdrawn), 1))
    assert erased.decision is Decision.ERASED

    # The tenant deletes its withdrawal (a tombstone) and replays the old grant: compaction then
    # leaves only the grant on the tenant's topic, and a restarted worker reads just that.
    restarted = new_state()
    restarted.withdrawals = dict(state.withdrawals)  # the gateway's own topic survives both
    [replayed] = lifecycle(restarted, at(NAMES.consent("acme"), CODEC.encode(granted), 5))
    assert replayed.decision is Decision.BLOCKED and replayed.reason_codes == ["CONSENT_REPLAYED"]
    terms = consent_terms(restarted.policies["acme"])
    check = check_consent(restarted.consent("acme", "s1"), None, NOW, now=NOW, terms=terms, minor=False)
    assert not isinstance(check, Consented) and check.reason == "CONSENT_WITHDRAWN"

    fresh = granted.model_copy(update={"granted_at": NOW - timedelta(minutes=30), "evidence_ref": "form-new"})
    [recorded] = lifecycle(restarted, at(NAMES.consent("acme"), CODEC.encode(fresh), 6))
    assert recorded.decision is Decision.CONSENT_RECORDED, "a grant given after the withdrawal counts"
    check = check_consent(restarted.consent("acme", "s1"), None, NOW, now=NOW, terms=terms, minor=False)
    assert isinstance(check, Consented)


def test_a_consent_dated_in_the_future_is_rejected_and_relied_on_by_nobody_once_its_date_comes() -> None:
    state, follower = new_state(), new_state()  # the lifecycle agent's worker, and one that only follows the feed
    granted = consent("s1")
    lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(granted), 0))
    ahead = consent("s1", granted_at=APPENDED + timedelta(minutes=15), evidence_ref="form-ahead")
    [audit] = lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(ahead), 1))
    assert audit.decision is Decision.REJECTED and audit.reason_codes == ["TIME_IN_FUTURE"]
    for record in (
        at(NAMES.consent("acme"), CODEC.encode(granted), 0),
        at(NAMES.consent("acme"), CODEC.encode(ahead), 1),
    ):
        follower.apply_consent("acme", "acme/s1", record.value, record.partition, record.offset, record.timestamp_ms)
    # Once its date has come, neither worker forwards on it; and it may have been a withdrawal, so
    # the grant before it is void too (as behind a record that does not decode), until a valid one.
    terms = consent_terms(state.policies["acme"])
    for worker in (state, follower):
        assert worker.consent("acme", "s1") is None
        check = check_consent(
            worker.consent("acme", "s1"), None, NOW + timedelta(hours=1), now=NOW, terms=terms, minor=False
        )
        assert not isinstance(check, Consented) and check.reason == "NO_CONSENT"


def test_a_withdrawal_dated_in_the_future_is_rejected_and_erases_as_of_the_brokers_time() -> None:
    state = new_state()
    granted = consent("s1")
    lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(granted), 0))
    ctx = context(state)
    enrolling = at(NAMES.enroll("acme"), CODEC.encode(enrollment("s1")), 0)
    decide_lifecycle(enrolling, ctx)
    apply(state, ctx.result)
    assert "acme/s1" in state.enrollments
    ahead = granted.model_copy(
        update={"status": ConsentStatus.WITHDRAWN, "withdrawn_at": APPENDED + timedelta(days=30)}
    )
    audits = lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(ahead), 1))
    assert [(a.decision, a.reason_codes) for a in audits] == [
        (Decision.REJECTED, ["TIME_IN_FUTURE"]),
        (Decision.ERASED, ["WITHDRAWN"]),
    ]
    assert "acme/s1" not in state.enrollments and state.withdrawals["acme/s1"] == APPENDED.replace(microsecond=0)
    # The old grant replayed: the gateway's own record of the withdrawal says it is a replay.
    [replayed] = lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(granted), 2))
    assert replayed.decision is Decision.BLOCKED and replayed.reason_codes == ["CONSENT_REPLAYED"]


def test_a_consent_whose_body_names_another_subject_changes_no_state() -> None:
    state = new_state()
    lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(consent("s1")), 0))
    before = state.consent("acme", "s1")
    forged = consent("s2", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW - timedelta(hours=1))
    [audit] = lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(forged), 1))  # keyed acme/s1
    assert audit.decision is Decision.REJECTED and audit.reason_codes == ["KEY_MISMATCH"]
    assert state.consent("acme", "s1") == before and state.consent("acme", "s2") is None


def test_a_deletion_without_a_time_the_broker_stamped_is_dated_when_it_is_decided() -> None:
    # On a topic left on producers' timestamps a tombstone may carry any 64-bit number: read as the
    # withdrawal's time, 0 let the old grant replayed after it count again, and 1e20 raised
    # (INTERNAL_ERROR) and erased nothing.
    granted = consent("s1")
    for stamp in (-1, 0, 10**20):
        state = new_state()
        lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(granted), 0))
        lifecycle(state, at(NAMES.enroll("acme"), CODEC.encode(enrollment("s1")), 0))
        assert "acme/s1" in state.enrollments
        [erased] = lifecycle(state, InputRecord(NAMES.consent("acme"), 0, 1, None, stamp, b"acme/s1"))
        assert erased.decision is Decision.ERASED and "acme/s1" not in state.enrollments, stamp
        assert state.withdrawals["acme/s1"] == NOW, stamp
        [replayed] = lifecycle(state, at(NAMES.consent("acme"), CODEC.encode(granted), 2))
        assert replayed.decision is Decision.BLOCKED and replayed.reason_codes == ["CONSENT_REPLAYED"], stamp
