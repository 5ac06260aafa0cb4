"""Erasure (R10, R11): withdrawal at once; expiry after the pack's grace; retention since enrollment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from gateway.contract.models import AuditRecord, CameraRegistration, ConsentRecord, ErasureNotice, FaceCaptured
from gateway.contract.vocabulary import ConsentStatus, Decision, LocationType, Occlusion
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512
from gateway.core.lifecycle.dispatch import decide_lifecycle
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.erasure import (
    due_erasures,
    erase,
    erase_each,
    on_consent,
    still_due,
    sweep_slices,
)
from gateway.core.messages import BatchResult, Output, in_produce_order
from gateway.core.pipeline import process_batch
from gateway.core.policy.pack import days_before
from gateway.core.policy.reasons import Reason
from gateway.core.state import GatewayState
from gateway.keyring import Keyring
from tests.support.core import CODEC, NAMES, NOW, context
from tests.support.lifecycle import (
    AGREEMENT,
    POPULATION,
    VISIT,
    apply,
    consent,
    decide_share,
    enrolled,
    enrollment,
    give,
    new_state,
    on,
    policy_for,
    record,
    share_request,
)


def test_a_withdrawal_tombstones_the_enrollment_notifies_the_tenant_and_is_audited() -> None:
    state = enrolled(new_state())
    withdrawal = consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW - timedelta(minutes=1))
    give(state, withdrawal)
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(withdrawal), partition=2), "acme/s1", s)
    [tombstone] = on(s.result, NAMES.enrolled)
    assert tombstone.key == b"acme/s1" and tombstone.value is None
    [notice_out] = on(s.result, NAMES.erasure("acme"))
    notice = CODEC.decode(notice_out.value or b"", ErasureNotice)
    assert notice.pseudonym == state.tenant_pseudonym("acme", "s1") and notice.reason_code == "WITHDRAWN"
    assert notice.rule_ids == ["R10"] and notice.consent_ref
    [told] = on(s.result, NAMES.erasure("partner"))  # the company it could have been shared with
    partner_notice = CODEC.decode(told.value or b"", ErasureNotice)
    assert partner_notice.pseudonym == state.recipient_pseudonym("partner", "acme", "s1") != notice.pseudonym
    assert partner_notice.consent_ref is None and partner_notice.notice_id != notice.notice_id
    [audit_out] = on(s.result, NAMES.audit)
    audit = CODEC.decode(audit_out.value or b"", AuditRecord)
    assert audit_out.partition == 2 and audit.decision is Decision.ERASED and audit.rule_ids == ["R10"]
    assert audit.subject_pseudonym and audit.subject_pseudonym != notice.pseudonym
    assert "s1" not in audit.event_id and "s1" not in notice.notice_id
    apply(state, s.result)
    assert "acme/s1" not in state.enrollments and state.enrolled_count("acme") == 0


def test_a_redone_withdrawal_repeats_its_outputs_with_the_same_ids_and_is_audited_once() -> None:
    state = enrolled(new_state())
    withdrawal = CODEC.encode(consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW))
    first = context(state)
    on_consent(record(NAMES.consent("acme"), withdrawal), "acme/s1", first)
    decided = {e for _, e in first.result.seen}
    again = context(state, seen=frozenset(decided))
    on_consent(record(NAMES.consent("acme"), withdrawal), "acme/s1", again)
    assert [o.key for o in again.result.outputs] == [o.key for o in first.result.outputs if o.topic != NAMES.audit]
    assert again.result.duplicates == 1


def _cut_short(outputs: list[Output]) -> Iterator[list[Output]]:
    """What Kafka may hold of a batch's outputs when its worker stops while producing them: every
    earlier step's, and any part of the step it stopped in (each partition is acknowledged alone)."""
    before: list[Output] = []
    for _, step in in_produce_order(outputs, NAMES.audit, NAMES.enrolled):
        for held in range(1 << len(step)):
            yield before + [o for i, o in enumerate(step) if held >> i & 1]
        before += step


def _restarted(fresh: Callable[[], GatewayState], held: list[Output]) -> tuple[GatewayState, frozenset[str]]:
    """A worker that starts after the cut: its feeds read what Kafka held, its dedupe the audit ids."""
    state = fresh()
    for o in held:
        if o.topic == NAMES.enrolled:
            state.apply_enrollment(o.key.decode(), o.value)
        elif o.topic == NAMES.withdrawals and o.value is not None:
            state.apply_withdrawal(o.key.decode(), o.value)
    audited = [CODEC.decode(o.value or b"", AuditRecord).audit_id for o in held if o.topic == NAMES.audit]
    return state, frozenset(audited)


def _finished(held: list[Output], redo: BatchResult) -> tuple[list[str], list[Decision], bool]:
    """Across the cut and its redo: the companies told, the decisions audited, the template tombstoned."""
    outputs = [*held, *redo.outputs]
    told = sorted({CODEC.decode(o.value or b"", ErasureNotice).tenant_id for o in outputs if "erasure" in o.topic})
    audited = [CODEC.decode(o.value or b"", AuditRecord).decision for o in outputs if o.topic == NAMES.audit]
    return told, audited, any(o.topic == NAMES.enrolled and o.value is None for o in outputs)


def test_an_erasure_cut_short_anywhere_is_finished_by_its_redo() -> None:
    # The redo of a withdrawal (or of a consent's deletion) after a crash reads what Kafka took of
    # the first try: a tombstone taken before the notices hid the company the template was
    # protected for, and the redo told the tenant alone while the audit said ERASED.
    def fresh() -> GatewayState:
        return enrolled(new_state())

    assert "partner" in fresh().enrollments["acme/s1"].recipients
    withdrawal = CODEC.encode(consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW))
    for value in (withdrawal, None):
        first = context(fresh())
        on_consent(record(NAMES.consent("acme"), value), "acme/s1", first)
        assert _finished([], first.result) == (["acme", "partner"], [Decision.ERASED], True)
        cuts = 0
        for held in _cut_short(first.result.outputs):
            state, audited = _restarted(fresh, held)
            redo = context(state, seen=audited)
            on_consent(record(NAMES.consent("acme"), value), "acme/s1", redo)
            assert _finished(held, redo.result) == (["acme", "partner"], [Decision.ERASED], True), held
            cuts += 1
        assert cuts > 8


def test_a_sweeps_erasure_cut_short_anywhere_is_finished_by_the_next_sweep() -> None:
    # A sweep has no input to redo: the next sweep finds what is still enrolled. A tombstone taken
    # before the audit record left an erasure no sweep would find again, never audited.
    def fresh() -> GatewayState:
        return enrolled(new_state(), expires_at=NOW + timedelta(days=1))

    later = NOW + timedelta(days=2)

    def sweep(state: GatewayState, audited: frozenset[str] = frozenset()) -> BatchResult:
        s = context(state, seen=audited, now=later)
        erase_each(s, still_due(state, later, lambda p: True, list(due_erasures(state, later, lambda p: True))))
        return s.result

    first = sweep(fresh())
    assert _finished([], first) == (["acme", "partner"], [Decision.ERASED], True)
    for held in _cut_short(first.outputs):
        state, audited = _restarted(fresh, held)
        assert _finished(held, sweep(state, audited)) == (["acme", "partner"], [Decision.ERASED], True), held


def test_a_deleted_consent_erases_and_a_grant_does_not() -> None:
    state = enrolled(new_state())
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(consent())), "acme/s1", s)
    [recorded] = [CODEC.decode(o.value or b"", AuditRecord) for o in s.result.outputs]  # audited, nothing erased
    assert recorded.decision is Decision.CONSENT_RECORDED and recorded.reason_codes == ["CONSENT_GRANTED"]
    s = context(state)
    on_consent(record(NAMES.consent("acme"), None, offset=1), "acme/s1", s)
    assert on(s.result, NAMES.enrolled)[0].value is None
    assert CODEC.decode(on(s.result, NAMES.audit)[0].value or b"", AuditRecord).decision is Decision.ERASED


def test_consent_records_with_a_bad_key_or_body_are_dead_letters() -> None:
    s = context(new_state())
    on_consent(record(NAMES.consent("acme"), b"junk that is not avro at all"), "acme/s1", s)
    on_consent(replace(record(NAMES.consent("acme"), CODEC.encode(consent()), offset=1), key=b"acme/s2"), "acme/s2", s)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(consent()), offset=2), None, s)
    reasons = [CODEC.decode(o.value or b"", AuditRecord).reason_codes[0] for o in on(s.result, NAMES.audit)]
    # The undecodable version, keyed right, may have been a withdrawal: it erases too.
    assert reasons == ["DECODE_BAD_MARKER", "WITHDRAWN", "KEY_MISMATCH", "BAD_KEY"]
    assert len(on(s.result, NAMES.rejected)) == 3


def test_a_version_that_does_not_decode_erases_as_a_deletion_does() -> None:
    # A withdrawal written with a schema this gateway does not know looks like any other garbage;
    # kept, the template outlived it for good once compaction removed the grant before it.
    state = enrolled(new_state())
    unknown = b"\xc3\x01" + b"\x00" * 8 + b"a newer schema's withdrawal"
    s = context(state)
    decide_lifecycle(replace(record(NAMES.consent("acme"), unknown, offset=3, at=NOW), key=b"acme/s1"), s)
    audits = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    assert [(a.decision, a.reason_codes[0]) for a in audits] == [
        (Decision.REJECTED, "DECODE_UNKNOWN_FINGERPRINT"), (Decision.ERASED, "WITHDRAWN"),
    ]  # fmt: skip
    assert [o.value for o in on(s.result, NAMES.enrolled)] == [None]
    told = {CODEC.decode(o.value or b"", ErasureNotice).tenant_id for o in s.result.outputs if "erasure" in o.topic}
    assert told == {"acme", "partner"}
    apply(state, s.result)
    # The grant it replaced, written again, does not count: a new grant (and enrollment) does.
    replayed = context(state)
    grant = replace(record(NAMES.consent("acme"), CODEC.encode(consent()), offset=4), key=b"acme/s1")
    decide_lifecycle(grant, replayed)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(replayed.result, NAMES.audit)]
    assert audit.reason_codes == ["CONSENT_REPLAYED"]  # a new grant, dated after the refused version, counts


def test_a_record_of_another_kind_on_the_consent_topic_erases_nothing() -> None:
    # An enrollment sent to the consent topic decodes, as an enrollment: certainly no withdrawal.
    state = enrolled(new_state())
    s = context(state)
    misrouted = replace(record(NAMES.consent("acme"), CODEC.encode(enrollment()), offset=3), key=b"acme/s1")
    decide_lifecycle(misrouted, s)
    audits = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    assert [(a.decision, a.reason_codes) for a in audits] == [(Decision.REJECTED, ["DECODE_WRONG_RECORD_TYPE"])]
    assert not on(s.result, NAMES.enrolled) and "acme/s1" in state.enrollments


def test_pipl_erases_when_the_purpose_ends() -> None:
    state = enrolled(new_state(), expires_at=NOW + timedelta(days=1))
    assert not list(due_erasures(state, NOW, lambda p: True))
    [due] = due_erasures(state, NOW + timedelta(days=1), lambda p: True)
    assert due.reason is Reason.EXPIRED and due.effective == NOW + timedelta(days=1)


def test_cubi_keeps_up_to_a_year_after_the_purpose_ends_and_a_tenant_may_shorten_it() -> None:
    ends = NOW + timedelta(hours=1)
    state = enrolled(new_state(), expires_at=ends)
    state.policies["acme"] = policy_for("acme", pack="cubi-tx")
    assert not list(due_erasures(state, ends + timedelta(days=364), lambda p: True))
    assert [d.reason for d in due_erasures(state, ends + timedelta(days=365), lambda p: True)] == [Reason.EXPIRED]
    state.policies["acme"] = policy_for("acme", pack="cubi-tx", tighten={"retention_purpose_end_grace_days": 30})
    assert not list(due_erasures(state, ends + timedelta(days=29), lambda p: True))
    assert len(list(due_erasures(state, ends + timedelta(days=30), lambda p: True))) == 1


def test_bipa_erases_three_years_after_the_last_interaction() -> None:
    state = enrolled(new_state())
    state.policies["acme"] = policy_for("acme", pack="bipa-il")
    enrolled_at = state.enrollments["acme/s1"].enrolled_at
    assert enrolled_at == NOW  # when the broker took it, the enrollment carrying no time of its own
    assert not list(due_erasures(state, NOW + timedelta(days=1094), lambda p: True))
    [due] = due_erasures(state, NOW + timedelta(days=1095), lambda p: True)
    assert due.reason is Reason.RETENTION
    s = context(state)
    erase(s, due)
    audit = CODEC.decode(on(s.result, NAMES.audit)[0].value or b"", AuditRecord)
    assert audit.rule_ids == ["R11"] and audit.reason_codes == ["RETENTION"]


def test_erasing_many_confines_an_error_to_its_subject() -> None:
    state = enrolled(enrolled(new_state(), "s1"), "s2")
    state.policies["acme"] = policy_for("acme", pack="bipa-il")
    due = sorted(due_erasures(state, NOW + timedelta(days=1095), lambda p: True), key=lambda d: d.subject_id)
    assert [d.subject_id for d in due] == ["s1", "s2"]
    broken = replace(due[0], reason=Reason.ENROLLED)  # no rule erases for this reason: erase raises
    s = context(state)
    erase_each(s, [broken, due[1]])
    assert s.result.errors == ["erasing (KeyError)"]
    audits = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    assert [(a.decision, a.reason_codes) for a in audits] == [(Decision.ERASED, ["RETENTION"])]
    assert [o.key for o in on(s.result, NAMES.enrolled)] == [b"acme/s2"], "only s2 is tombstoned"


def test_a_sweep_erases_only_what_is_still_due_when_its_batch_comes() -> None:
    # The walk lists the due, then erases them a batch at a time with the lifecycle agent's
    # batches between: what it decided meanwhile must not be undone.
    state = enrolled(enrolled(enrolled(new_state(), "s1"), "s2"), "s3")
    state.policies["acme"] = policy_for("acme", pack="bipa-il")
    later = NOW + timedelta(days=1095)
    found = sorted(due_erasures(state, later, lambda p: True), key=lambda d: d.subject_id)
    assert [(d.subject_id, d.reason) for d in found] == [(s, Reason.RETENTION) for s in ("s1", "s2", "s3")]

    # s1 enrolls again (its retention starts again), s2 withdraws (erased at once).
    again = context(state, now=later)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment("s1")), offset=9, at=later), again)
    apply(state, again.result)
    withdrawal = consent("s2", status=ConsentStatus.WITHDRAWN, withdrawn_at=later)
    give(state, withdrawal)
    gone = context(state, now=later)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(withdrawal), offset=9, at=later), "acme/s2", gone)
    assert [o.key for o in on(gone.result, NAMES.enrolled)] == [b"acme/s2"]
    apply(state, gone.result)
    due = still_due(state, later, lambda p: True, found)
    assert [(d.subject_id, d.reason) for d in due] == [("s3", Reason.RETENTION)]
    s = context(state, now=later)
    erase_each(s, due)
    assert [o.key for o in on(s.result, NAMES.enrolled)] == [b"acme/s3"]  # s1's new template is kept
    assert len(on(s.result, NAMES.audit)) == 1  # s2 is not erased, nor notified, a second time
    # What the walk found, erased as found, would have done both.
    stale = context(state, now=later)
    erase_each(stale, found)
    assert len(on(stale.result, NAMES.enrolled)) == 3 and len(on(stale.result, NAMES.audit)) == 3


def test_a_template_due_for_erasure_is_used_by_no_capture_or_share_before_the_sweep_comes() -> None:
    # The sweep runs every minute or more (later after a start, or with a whole gallery due): from
    # the moment a template is due, decisions must already treat it as erased.
    state = enrolled(new_state())
    state.policies["acme"] = policy_for("acme", pack="bipa-il", agreements=(AGREEMENT,))
    camera = CameraRegistration(
        camera_id="cam-1", tenant_id="acme", site_id="site-1", location_type=LocationType.RETAIL,
        signage_posted=True, allowed_purposes=[VISIT], region="CN", vendor_id="lumen",
    )  # fmt: skip
    state.apply_camera("acme", "cam-1", CODEC.encode(camera))
    face = FaceCaptured(
        event_id="e-1", camera_id="cam-1", tenant_id="acme", captured_at=NOW, purpose=VISIT, quality=0.9,
        occlusion=Occlusion.NONE,
        template=to_bytes(POPULATION.captures([0], stream=1, noise=0.3)[0]), template_model=SYNTHETIC_512.name,
    )  # fmt: skip

    def decided(now: datetime) -> tuple[AuditRecord, AuditRecord]:
        taken = face.model_copy(update={"captured_at": now})
        s = context(state, now=now)
        process_batch([record(NAMES.captures("lumen"), CODEC.encode(taken), at=now)], s)
        [audit] = on(s.result, NAMES.audit)
        shared, _ = decide_share(state, share_request(requested_at=now), now=now)
        return CODEC.decode(audit.value or b"", AuditRecord), shared

    kept_until = NOW + timedelta(days=1095)  # BIPA 15(a): three years
    before = kept_until - timedelta(seconds=1)
    assert not list(due_erasures(state, before, lambda p: True))
    captured, shared = decided(before)
    assert captured.decision is Decision.FORWARDED and shared.decision is Decision.SHARED
    assert [d.reason for d in due_erasures(state, kept_until, lambda p: True)] == [Reason.RETENTION]
    captured, shared = decided(kept_until)
    assert captured.decision is Decision.STRIPPED and captured.reason_codes == ["RETENTION"]
    assert captured.subject_pseudonym is None and "R11" in captured.rule_ids
    assert shared.decision is Decision.SHARE_BLOCKED and shared.reason_codes == ["RETENTION"]


def test_a_worker_sweeps_only_the_partitions_it_owns() -> None:
    state = enrolled(new_state(), expires_at=NOW + timedelta(hours=1))
    later = NOW + timedelta(days=1)
    assert list(due_erasures(state, later, lambda p: p == 0)) and not list(due_erasures(state, later, lambda p: p == 1))


def test_a_sweep_can_walk_the_gallery_a_slice_at_a_time() -> None:
    state = enrolled(new_state(), expires_at=NOW + timedelta(hours=1))
    later = NOW + timedelta(days=1)
    [key] = list(state.enrollments)
    assert [d.subject_id for d in due_erasures(state, later, lambda p: True, [key])] == [key.split("/", 1)[1]]
    assert not list(due_erasures(state, later, lambda p: True, []))
    # A key erased since the slice was listed is passed over, not an error.
    assert not list(due_erasures(state, later, lambda p: True, ["acme/gone"]))


def _swept(state: GatewayState, at: datetime) -> tuple[list[str], list[tuple[str, Reason]]]:
    """What a sweep in slices of two looks at, and what it finds due."""
    slices = list(sweep_slices(state, at, 2))
    assert all(len(keys) <= 2 for keys in slices)
    due = [(d.subject_id, d.reason) for keys in slices for d in due_erasures(state, at, lambda p: True, keys)]
    return [key for keys in slices for key in keys], sorted(due)


def _walked(state: GatewayState, at: datetime) -> list[tuple[str, Reason]]:
    return sorted((d.subject_id, d.reason) for d in due_erasures(state, at, lambda p: True))


def test_a_sweep_looks_only_at_expired_consents_unless_retention_or_a_revoked_key_can_make_any_due() -> None:
    state = enrolled(new_state(), "s1", expires_at=NOW + timedelta(days=1))
    enrolled(state, "s2", expires_at=NOW + timedelta(days=10))
    enrolled(state, "s3")  # a consent without an end
    assert state.per_tenant == {"acme": 3}
    later = NOW + timedelta(days=2)
    assert _swept(state, later) == (["acme/s1"], [("s1", Reason.EXPIRED)]) and _walked(state, later) == [
        ("s1", Reason.EXPIRED)
    ]
    assert _swept(state, NOW) == ([], []) and _walked(state, NOW) == []
    # BIPA limits the time since enrollment: any enrollment may be due, so every one is looked at.
    state.policies["acme"] = policy_for("acme", pack="bipa-il")
    for at in (later, NOW + timedelta(days=1095)):
        looked_at, due = _swept(state, at)
        assert sorted(looked_at) == ["acme/s1", "acme/s2", "acme/s3"] and due == _walked(state, at)
    assert {reason for _, reason in due} == {Reason.EXPIRED, Reason.RETENTION}
    # A revoked key version: its templates are due whatever their consent says.
    state.policies["acme"] = policy_for("acme", agreements=(AGREEMENT,))
    keyring, cutoff = Keyring.generate(["acme", "partner"]), NOW + timedelta(days=3)
    keys = keyring.tenants["acme"]
    rotated = keys.model_copy(update={"protection": keys.protection.rotated(cutoff)})
    state.keyring = keyring.model_copy(update={"tenants": {**keyring.tenants, "acme": rotated}})
    looked_at, due = _swept(state, cutoff)
    assert len(looked_at) == 3 and due == _walked(state, cutoff) and ("s3", Reason.KEY_REVOKED) in due
    # An erased enrollment leaves the count; its expired consent alone makes nobody due.
    state.keyring = keyring
    state.apply_enrollment("acme/s1", None)
    assert state.per_tenant == {"acme": 2} and _swept(state, later) == ([], []) == ([], _walked(state, later))


def test_a_consent_that_ends_at_the_calendars_end_is_swept_like_any_other() -> None:
    # A tenant may grant a consent that expires in 9999: the grace counted forward from there
    # would overflow the calendar, and every worker's sweep end in an error, on every restart too.
    end = datetime(9999, 6, 1, tzinfo=NOW.tzinfo)
    state = enrolled(new_state(), "s1", expires_at=end)
    enrolled(state, "s2", expires_at=NOW + timedelta(days=1))
    later = NOW + timedelta(days=400)
    for pack in ("cubi-tx", "bipa-il"):  # walked by expiry, then whole (retention since enrollment)
        state.policies["acme"] = policy_for("acme", pack=pack)
        looked_at, due = _swept(state, later)
        assert [subject for subject, _ in due] == ["s2"] and [s for s, _ in _walked(state, later)] == ["s2"]
        assert ("acme/s2" in looked_at) and (pack == "bipa-il") == ("acme/s1" in looked_at)
    # A limit of more days than the calendar holds before now: nothing is that old.
    assert not days_before(NOW, datetime(1, 1, 1, tzinfo=NOW.tzinfo), 999_999_999)
    assert days_before(NOW, NOW - timedelta(days=3), 3) and not days_before(NOW, NOW - timedelta(days=3), 4)


def test_a_void_consent_version_keeps_the_last_grants_expiry_for_the_sweep() -> None:
    # A version nothing may rely on (undecodable, or dated ahead of the broker) voids the consent,
    # but must not keep the template past the grant's expiry and grace: the sweep still finds it.
    later = NOW + timedelta(days=1)
    ahead = consent("s1", granted_at=NOW + timedelta(days=2))
    for value, appended_ms in ((b"\xc3\x01not a consent", 0), (CODEC.encode(ahead), int(NOW.timestamp() * 1000))):
        state = enrolled(new_state(), expires_at=NOW + timedelta(hours=1))
        state.apply_consent("acme", "acme/s1", value, 0, 99, appended_ms)
        assert state.consent("acme", "s1") is None
        assert [(d.subject_id, d.reason) for d in due_erasures(state, later, lambda p: True)] == [
            ("s1", Reason.EXPIRED)
        ]
        assert [key for keys in sweep_slices(state, later, 10) for key in keys] == ["acme/s1"]
    # A tombstone (the tenant deleted the consent) is a withdrawal, erased as it arrives: nothing left to sweep.
    state.apply_consent("acme", "acme/s1", None, 0, 100)
    assert state.consents.expires_at("acme/s1") is None


def _production(tenants: list[str]) -> GatewayState:
    state = new_state()
    state.keyring = Keyring.generate(tenants)
    return state


def _notices(result: BatchResult, company: str) -> list[ErasureNotice]:
    return [CODEC.decode(o.value or b"", ErasureNotice) for o in on(result, NAMES.erasure(company))]


def _withdraw(state: GatewayState, offset: int = 5, **changes: object) -> tuple[AuditRecord, BatchResult]:
    fields: dict[str, object] = {"status": ConsentStatus.WITHDRAWN, "withdrawn_at": NOW - timedelta(minutes=1)}
    withdrawal = consent("s1", **{**fields, **changes})
    give(state, withdrawal)
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(withdrawal), offset), "acme/s1", s)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    return audit, s.result


def test_a_withdrawal_erases_though_a_company_it_would_tell_has_no_keys_any_more() -> None:
    """A recipient offboarded (its keys taken out of the keyring) cannot be named under a pseudonym:
    it is told nothing, and the erasure goes on. It was rejected, and the template kept for good."""
    state = enrolled(_production(["acme", "partner"]))
    assert "partner" in state.enrollments["acme/s1"].recipients
    state.keyring = state.keyring.model_copy(update={"tenants": {"acme": state.keyring.tenants["acme"]}})
    audit, result = _withdraw(state)
    assert audit.decision is Decision.ERASED and not result.errors
    [tombstone] = on(result, NAMES.enrolled)
    assert tombstone.value is None and on(result, NAMES.withdrawals)
    assert [n.pseudonym for n in _notices(result, "acme")] == [state.tenant_pseudonym("acme", "s1")]
    assert not _notices(result, "partner")


def test_erasure_notices_name_the_subject_under_every_pseudonym_version_still_held() -> None:
    """What a tenant or a recipient holds under a pseudonym from before a key rotation is named too:
    a notice under the new version alone matched nothing they held."""
    state = enrolled(_production(["acme", "partner"]))
    before = {c: [name for _, name in state.pseudonyms_held(c, "acme", "s1")] for c in ("acme", "partner")}
    ring = state.keyring
    rotated = {t: keys.model_copy(update={"pseudonym": keys.pseudonym.rotated()}) for t, keys in ring.tenants.items()}
    state.keyring = ring.model_copy(update={"tenants": rotated})
    _, result = _withdraw(state)
    for company in ("acme", "partner"):
        names = [n.pseudonym for n in _notices(result, company)]
        assert len(names) == 2 and names[1] == before[company][0] and names[0] != names[1]
        assert len({n.notice_id for n in _notices(result, company)}) == 2
    assert state.tenant_pseudonym("acme", "s1") == _notices(result, "acme")[0].pseudonym, "the current one first"


def test_a_version_that_stops_naming_a_recipient_tells_it_to_erase() -> None:
    """Consent to share with a company, taken back by a version that no longer names it (narrowed
    or replaced), is a withdrawal for that company: it is told as on a withdrawal."""
    state = enrolled(new_state())
    narrowed = consent(recipients=[], granted_at=NOW - timedelta(minutes=1))
    give(state, narrowed)
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(narrowed), 3), "acme/s1", s)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    assert audit.decision is Decision.CONSENT_RECORDED and audit.reason_codes == ["CONSENT_NARROWED"]
    assert "R10" in audit.rule_ids
    [notice] = _notices(s.result, "partner")
    assert notice.pseudonym == state.recipient_pseudonym("partner", "acme", "s1") and notice.reason_code == "WITHDRAWN"
    assert not _notices(s.result, "acme") and not on(s.result, NAMES.enrolled)
    widened = consent(recipients=["partner"], granted_at=NOW)
    give(state, widened)
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(widened), 4), "acme/s1", s)
    assert not _notices(s.result, "partner"), "naming it again takes nothing back"


def _decided(state: GatewayState, version: ConsentRecord, offset: int) -> AuditRecord:
    """The audit record of one consent version, decided as the agent decides it (already applied)."""
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(version), offset), "acme/s1", s)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(s.result, NAMES.audit)]
    return audit


def test_a_withdrawal_of_a_subject_never_enrolled_tells_no_company_it_names() -> None:
    """Nothing was protected for, or shared with, the companies the consent names: a notice would
    tell them of a subject and its consent to share, and they hold nothing to erase."""
    state = new_state()
    give(state, consent())
    _, result = _withdraw(state)
    assert _notices(result, "acme") and not _notices(result, "partner")


def test_a_withdrawal_decided_after_the_feeds_read_a_new_grant_leaves_that_grant_valid() -> None:
    """A consent system that records a change as "withdraw, then grant again": the feeds, ahead of
    the lifecycle agent, may hold the new grant when the withdrawal is decided. The gateway's
    record of the withdrawal is dated by the grants before it, never by that one."""
    state = enrolled(new_state())
    withdrawal = consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW - timedelta(hours=2))
    again = consent(granted_at=NOW - timedelta(hours=1))
    give(state, withdrawal)
    give(state, again)
    _decided(state, withdrawal, 7)
    assert state.withdrawals["acme/s1"] == NOW - timedelta(hours=2)
    audit = _decided(state, again, 8)
    assert audit.decision is Decision.CONSENT_RECORDED and audit.reason_codes == ["CONSENT_GRANTED"]


def test_a_withdrawal_dated_before_the_grant_it_withdraws_still_refuses_that_grant_replayed() -> None:
    state = enrolled(new_state())
    granted = consent()
    _withdraw(state, withdrawn_at=datetime(2000, 1, 1, tzinfo=granted.granted_at.tzinfo))
    assert state.withdrawals["acme/s1"] >= granted.granted_at
    give(state, granted)
    audit = _decided(state, granted, 6)
    assert audit.decision is Decision.BLOCKED and audit.reason_codes == ["CONSENT_REPLAYED"]


def test_a_grant_dated_exactly_at_the_withdrawal_is_refused_replayed_and_one_a_millisecond_later_is_not() -> None:
    # "A grant given at or before it grants nothing" (Withdrawal.withdrawn_at): the boundary is the withdrawal's.
    state = enrolled(new_state())
    withdrawn_at = NOW - timedelta(hours=1)
    _withdraw(state, withdrawn_at=withdrawn_at)
    assert state.withdrawals["acme/s1"] == withdrawn_at
    at, after = consent(granted_at=withdrawn_at), consent(granted_at=withdrawn_at + timedelta(milliseconds=1))
    give(state, at)
    assert _decided(state, at, 6).reason_codes == ["CONSENT_REPLAYED"]
    give(state, after)
    assert _decided(state, after, 7).decision is Decision.CONSENT_RECORDED


def test_a_withdrawal_sent_again_byte_for_byte_after_a_new_grant_still_refuses_that_grant_replayed() -> None:
    state = enrolled(new_state())
    withdrawal = consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW - timedelta(hours=3))
    again = consent(granted_at=NOW - timedelta(hours=2))
    for offset, version in enumerate((withdrawal, again, withdrawal), start=10):
        give(state, version)
        _decided(state, version, offset)
    assert state.withdrawals["acme/s1"] >= again.granted_at
    give(state, again)
    assert _decided(state, again, 13).reason_codes == ["CONSENT_REPLAYED"]


def test_a_notice_is_known_by_its_key_version_so_a_redo_after_a_rotation_repeats_its_ids() -> None:
    state = enrolled(_production(["acme", "partner"]))
    _, before = _withdraw(state)
    ring = state.keyring
    rotated = {t: keys.model_copy(update={"pseudonym": keys.pseudonym.rotated()}) for t, keys in ring.tenants.items()}
    state.keyring = ring.model_copy(update={"tenants": rotated})
    _, after = _withdraw(state)
    for company in ("acme", "partner"):
        [first] = _notices(before, company)
        assert (first.notice_id, first.pseudonym) in {(n.notice_id, n.pseudonym) for n in _notices(after, company)}


def test_a_tombstone_decided_before_the_feed_read_its_grant_still_keeps_the_grant_from_counting_again() -> None:
    """After a rebalance a worker's agent may decide a tombstone before its own feed has read the
    grant it deletes (decided by the worker before): the withdrawal is written all the same, so the
    grant, replayed, is refused."""
    state, granted = new_state(), consent()
    s = context(state)
    decide_lifecycle(replace(record(NAMES.consent("acme"), None, 5), key=b"acme/s1"), s)
    assert on(s.result, NAMES.withdrawals) and "acme/s1" in state.withdrawals
    state.apply_consent("acme", "acme/s1", CODEC.encode(granted), 0, 4)  # the feed catches up: the grant
    state.apply_consent("acme", "acme/s1", None, 0, 5)  # and its tombstone
    state.apply_consent("acme", "acme/s1", CODEC.encode(granted), 0, 6)  # the same grant, replayed
    assert _decided(state, granted, 6).reason_codes == [Reason.CONSENT_REPLAYED]


def test_templates_of_a_tenant_no_longer_configured_are_named_since_nothing_erases_them() -> None:
    # Removed from the settings (and its policy with it), a tenant's templates are neither used nor
    # swept: the worker names them at start so that the operator offboards the tenant properly.
    state = enrolled(enrolled(new_state(), "s1"), "s2")
    state.policies["acme"] = policy_for("acme", pack="bipa-il")
    later = NOW + timedelta(days=1095)
    assert len(list(due_erasures(state, later, lambda p: True))) == 2 and not state.unconfigured({"acme"})
    del state.policies["acme"]
    state.fallback_policy = None
    assert not list(due_erasures(state, later, lambda p: True))
    assert state.unconfigured({"beta"}) == {"acme": 2}


def test_a_template_held_though_the_gateway_recorded_its_withdrawal_is_swept_away() -> None:
    """Review s47 (disaster recovery): an `enrolled` topic restored from a backup older than a
    withdrawal brought the erased template back, searchable and held for good: decisions stayed
    safe (the consent is withdrawn) but nothing erased it again. The gateway's own record of the
    withdrawal marks it due; a template enrolled after the withdrawal (a new grant) is not."""
    state = enrolled(new_state())
    withdrawal = consent(status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW - timedelta(minutes=1))
    give(state, withdrawal)
    s = context(state)
    on_consent(record(NAMES.consent("acme"), CODEC.encode(withdrawal)), "acme/s1", s)
    erased = [o for o in s.result.outputs if o.topic == NAMES.enrolled]
    restored = new_state()  # the backup: the enrollment, from before the withdrawal
    give(restored, consent())
    before = context(restored)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment()), at=NOW - timedelta(hours=1)), before)
    apply(restored, before.result)
    [kept] = [o for o in s.result.outputs if o.topic == NAMES.withdrawals]
    restored.apply_withdrawal("acme/s1", kept.value)  # the withdrawals topic was not lost
    give(restored, withdrawal)
    assert erased and "acme/s1" in restored.enrollments
    assert _swept(restored, NOW) == (["acme/s1"], [("s1", Reason.WITHDRAWN)])
    sweep = context(restored)
    erase_each(sweep, list(due_erasures(restored, NOW, lambda p: True)))
    assert [o.value for o in on(sweep.result, NAMES.enrolled)] == [None]
    apply(restored, sweep.result)
    assert "acme/s1" not in restored.enrollments and not _walked(restored, NOW)
    again = enrolled(new_state())  # enrolled after the withdrawal: a new grant's
    again.apply_withdrawal("acme/s1", kept.value)
    entry = again.enrollments["acme/s1"]
    assert entry.enrolled_at > again.withdrawals["acme/s1"] and not _walked(again, NOW)
