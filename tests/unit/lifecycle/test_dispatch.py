"""Which lifecycle step decides a record, and when a refusal is decided again."""

from __future__ import annotations

from dataclasses import replace

from gateway.contract.models import AuditRecord, CameraRegistration, RejectedEvent
from gateway.contract.vocabulary import ConsentStatus, Decision, LocationType, Purpose
from gateway.core.lifecycle.dispatch import decide_in_order, decide_lifecycle, in_slices, worth_redoing
from gateway.core.messages import InputRecord, record_key
from tests.support.core import CODEC, NAMES, NOW, context, key_of
from tests.support.lifecycle import T0, apply, consent, enrollment, give, new_state, on, share_request


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


def at(topic: str, value: bytes | None, offset: int) -> InputRecord:
    return InputRecord(topic, 1, offset, value, int(NOW.timestamp() * 1000), key_of(value))


def test_a_run_is_decided_in_order_and_stops_before_a_refusal_the_feeds_may_lift() -> None:
    """A consent, the enrollment it allows and a share of that subject, in one batch: the consent
    binds at once, so the enrollment is decided with it; the share needs the enrollment in the
    feeds, so the run stops before it (the worker commits, syncs the feeds and decides it again)."""
    state = new_state()
    run = [
        at(NAMES.consent("acme"), CODEC.encode(consent("s1")), 0),
        at(NAMES.enroll("acme"), CODEC.encode(enrollment("s1")), 1),
        at(NAMES.share_requests("acme"), CODEC.encode(share_request()), 2),
        at(NAMES.consent("acme"), CODEC.encode(consent("s2")), 3),
    ]
    ctx = context(state)
    assert decide_in_order(run, ctx) == 2
    decided = [CODEC.decode(o.value or b"", AuditRecord).decision for o in on(ctx.result, NAMES.audit)]
    assert decided == [Decision.CONSENT_RECORDED, Decision.ENROLLED]
    apply(state, ctx.result)  # committed, and read back by the feeds

    again = context(state)
    assert decide_in_order(run[2:], again, retried=True) == 2
    decided = [CODEC.decode(o.value or b"", AuditRecord).decision for o in on(again.result, NAMES.audit)]
    assert decided == [Decision.SHARED, Decision.CONSENT_RECORDED]


def test_a_share_is_allowed_only_once_the_feeds_have_read_what_came_before_it() -> None:
    """The tenant withdraws, waits for Kafka's acknowledgement, then asks to share: the withdrawal is
    on another topic, and may reach the agent after the request. A share the feeds would allow is
    decided again once they have read everything written before it, and fails closed while they lag."""
    state = new_state()
    give(state, consent("s1"))
    enrolling = context(state)
    decide_lifecycle(at(NAMES.enroll("acme"), CODEC.encode(enrollment("s1")), 0), enrolling)
    apply(state, enrolling.result)
    request = at(NAMES.share_requests("acme"), CODEC.encode(share_request()), 1)
    first = context(state)
    assert decide_in_order([request], first) == 0 and not first.result.outputs, "not before the feeds are synced"
    give(state, consent("s1", status="WITHDRAWN", withdrawn_at=NOW))  # what the sync brought
    synced = context(state)
    assert decide_in_order([request], synced, retried=True) == 1
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(synced.result, NAMES.audit)]
    assert audit.decision is Decision.SHARE_BLOCKED and not on(synced.result, NAMES.governed("partner"))

    allowed = new_state()
    give(allowed, consent("s1"))
    apply(allowed, enrolling.result)
    lagging = replace(context(allowed), feeds_behind=True)
    assert decide_in_order([request], lagging) == 1, "no sync for it: one would wait in vain for the lagging feeds"
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(lagging.result, NAMES.audit)]
    assert audit.decision is Decision.SHARE_BLOCKED and audit.reason_codes == ["FEEDS_BEHIND"]
    caught_up = context(allowed)
    assert decide_in_order([request], caught_up, retried=True) == 1
    assert on(caught_up.result, NAMES.governed("partner")), "allowed once the feeds are caught up"

    # The worker syncs once a batch, which covers every record it fetched: a flood costs a sync.
    flood = [
        at(NAMES.share_requests("acme"), CODEC.encode(share_request(request_id=f"r{n}")), 10 + n) for n in range(3)
    ]
    assert decide_in_order(flood, context(allowed)) == 0
    covered = replace(context(allowed), synced=True)
    assert decide_in_order(flood, covered) == 3 and len(on(covered.result, NAMES.governed("partner"))) == 3


def test_after_the_batchs_sync_only_what_the_run_itself_enrolled_is_worth_waiting_for() -> None:
    """A flood of refused enrollments held every batch a sync each (10 s each while the feeds
    stall). After the batch's sync a refusal stands, unless a share waits for an enrollment the
    same run wrote, which the feeds must read first."""
    state = new_state()
    give(state, consent("s1"))
    refused = [at(NAMES.enroll("acme"), CODEC.encode(enrollment(f"nobody{n}")), 20 + n) for n in range(3)]
    ctx = replace(context(state), synced=True)
    assert decide_in_order(refused, ctx) == 3 and len(on(ctx.result, NAMES.audit)) == 3
    run = [
        at(NAMES.enroll("acme"), CODEC.encode(enrollment("s1")), 30),
        at(NAMES.share_requests("acme"), CODEC.encode(share_request()), 31),
    ]
    ctx = replace(context(state), synced=True)
    assert decide_in_order(run, ctx) == 1, "the share waits for the enrollment before it"


def test_a_retried_refusal_stands_and_a_record_twice_in_a_run_is_decided_once() -> None:
    refused = at(NAMES.enroll("acme"), CODEC.encode(enrollment("nobody")), 5)
    ctx = context(new_state())
    assert decide_in_order([refused], ctx) == 0 and not ctx.result.outputs
    assert decide_in_order([refused, refused], ctx, retried=True) == 2, "the retry stands; its repeat is dropped"
    assert len(on(ctx.result, NAMES.audit)) == 1 and ctx.result.duplicates == 1

    granted = at(NAMES.consent("acme"), CODEC.encode(consent("s1")), 6)
    twice = context(new_state())
    assert decide_in_order([granted, granted], twice) == 2
    assert len(on(twice.result, NAMES.audit)) == 1 and twice.result.duplicates == 1


def test_a_run_in_slices_retries_only_its_first_record() -> None:
    """The worker decides a run in slices with the event loop's turn between them: the slices
    decide what the whole run would, and only the run's first record is the one retried."""
    refused = [at(NAMES.enroll("acme"), CODEC.encode(enrollment(f"nobody{n}")), 10 + n) for n in range(3)]
    ctx = context(new_state())
    decide = in_slices(ctx, retried=True)
    assert decide(refused[:1]) == 1, "the retried record's refusal stands"
    assert decide(refused[1:]) == 0, "a later refusal stops the run, as in one step"
    whole = context(new_state())
    assert decide_in_order(refused, whole, retried=True) == 1
    assert [o.value for o in ctx.result.outputs] == [o.value for o in whole.result.outputs]

    not_retried = in_slices(context(new_state()))
    assert not_retried(refused[:1]) == 0


def test_a_key_that_is_not_utf8_names_no_subject_in_the_agent_or_the_feeds() -> None:
    # Review s47: read leniently, `acme/alice\xff` was `acme/alice\ufffd`, the key of a body naming
    # that subject: the agent rejected the record (its bytes are not that key) but had applied it,
    # and the feeds applied it too; a grant so keyed let an enrollment through, a withdrawal erased
    # nothing. Kafka holds the two keys apart, so after a restart either could win.
    subject, raw_key = "alice\ufffd", b"acme/alice\xff"
    for version in (consent(subject), consent(subject, status=ConsentStatus.WITHDRAWN, withdrawn_at=T0)):
        state = new_state()
        s = context(state)
        decide_lifecycle(InputRecord(NAMES.consent("acme"), 0, 0, CODEC.encode(version), 0, raw_key), s)
        [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
        assert audit.decision is Decision.REJECTED and audit.reason_codes == ["BAD_KEY"]
        assert state.consent("acme", subject) is None
        state.apply_consent("acme", record_key(raw_key), CODEC.encode(version))  # as the feeds read it
        assert state.consent("acme", subject) is None and state.ignored_records == 1
    camera = CameraRegistration(
        camera_id="cam\ufffd", tenant_id="acme", site_id="site-1", location_type=LocationType.RETAIL,
        signage_posted=True, allowed_purposes=[Purpose.SECURITY], region="CN",
    )  # fmt: skip
    s = context(state)
    decide_lifecycle(InputRecord(NAMES.cameras("acme"), 0, 0, CODEC.encode(camera), 0, b"cam\xff"), s)
    assert {o.topic for o in s.result.outputs} == {NAMES.rejected, NAMES.audit}
    state.apply_camera("acme", record_key(b"cam\xff"), CODEC.encode(camera))
    assert state.camera("acme", "cam\ufffd") is None
