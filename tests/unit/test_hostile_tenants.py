"""The topic is the writer's identity: a tenant speaks only on its own topics and only for itself,
a vendor only for the cameras registered to it. Whatever a record on a tenant's topic names about
another tenant is REJECTED, dead-lettered with a reason, audited, and changes no state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.contract.models import MAX_REASON_LENGTH, AuditRecord, CameraRegistration, RejectedEvent
from gateway.contract.vocabulary import ConsentStatus, Decision
from gateway.core.consent import MAX_VERSION_BYTES
from gateway.core.context import UNDECIDABLE
from gateway.core.lifecycle.dispatch import decide_lifecycle
from gateway.core.messages import BatchResult, InputRecord
from gateway.core.pipeline import process_batch
from gateway.core.policy.outcome import Refusal
from gateway.core.policy.reasons import Reason
from gateway.core.records import enrollment_event_id
from gateway.core.state import GatewayState
from gateway.sdk.scenario import Traffic, build_world
from tests.support.core import CODEC, NAMES, NOW, context, loaded_state
from tests.support.lifecycle import (
    apply,
    consent,
    enrolled,
    enrollment,
    new_state,
    on,
    record,
    share_request,
)


def rejected(result: BatchResult) -> list[tuple[str, str, Decision]]:
    """(dead letter reason, audited tenant, audited decision) of each rejection."""
    dead = [CODEC.decode(o.value or b"", RejectedEvent) for o in on(result, NAMES.rejected)]
    audits = [CODEC.decode(o.value or b"", AuditRecord) for o in on(result, NAMES.audit)]
    assert len(dead) == len(audits), "one audit record per dead letter"
    return [(d.reason_code, a.tenant_id, a.decision) for d, a in zip(dead, audits, strict=True)]


def decide(state: GatewayState, topic: str, value: bytes | None, key: bytes | None = None) -> BatchResult:
    ctx = context(state)
    decide_lifecycle(replace(record(topic, value), key=key) if key is not None else record(topic, value), ctx)
    apply(state, ctx.result)
    return ctx.result


def test_another_tenant_cannot_replace_an_enrolled_face() -> None:
    """Issue 14's attack: beta enrolls its own face as acme's cust-42, whose consent is valid."""
    state = enrolled(new_state(), "cust-42")
    before = state.enrollments["acme/cust-42"]
    intruder = CODEC.encode(enrollment("cust-42", person=9))  # body: acme/cust-42
    # On beta's topic, keyed as acme's subject: the key names another tenant than the topic's.
    as_acme = decide(state, NAMES.enroll("beta"), intruder)
    # On beta's topic, keyed as its own subject but the body naming acme's: key and body differ.
    as_beta = decide(state, NAMES.enroll("beta"), intruder, key=b"beta/cust-42")
    assert rejected(as_acme) == [("TENANT_MISMATCH", "beta", Decision.REJECTED)]
    assert rejected(as_beta) == [("KEY_MISMATCH", "beta", Decision.REJECTED)]
    assert not on(as_acme, NAMES.enrolled) and not on(as_beta, NAMES.enrolled)
    assert state.enrollments["acme/cust-42"] is before, "acme's template is untouched"


def test_another_tenant_cannot_withdraw_delete_or_grant_a_consent() -> None:
    state = enrolled(new_state(), "s1")
    withdrawn = CODEC.encode(consent("s1", status=ConsentStatus.WITHDRAWN, withdrawn_at=NOW))
    outcomes = [
        decide(state, NAMES.consent("beta"), withdrawn),  # key acme/s1 on beta's topic
        decide(state, NAMES.consent("beta"), None, key=b"acme/s1"),  # a tombstone for acme's subject
        decide(state, NAMES.consent("beta"), withdrawn, key=b"beta/s1"),  # the body names acme
    ]
    assert [rejected(o) for o in outcomes] == [
        [("TENANT_MISMATCH", "beta", Decision.REJECTED)],
        [("TENANT_MISMATCH", "beta", Decision.REJECTED)],
        [("KEY_MISMATCH", "beta", Decision.REJECTED)],
    ]
    assert all(not on(o, NAMES.enrolled) and not on(o, NAMES.withdrawals) for o in outcomes), "nothing erased"
    history = state.consent("acme", "s1")
    assert history is not None and history.current is not None and history.withdrawn_at is None
    assert "acme/s1" in state.enrollments
    # The consent feed reads beta's topic the same way: nothing beta writes about acme applies.
    ignored = state.ignored_records
    state.apply_consent("beta", "acme/s1", withdrawn, offset=99)
    state.apply_consent("beta", "beta/s1", withdrawn, offset=100)
    assert state.ignored_records == ignored + 2 and state.consent("beta", "s1") is None
    assert state.consent("acme", "s1").withdrawn_at is None  # type: ignore[union-attr]


def test_another_tenant_cannot_share_a_subject_it_does_not_hold() -> None:
    state = enrolled(new_state(), "s1")
    request = CODEC.encode(share_request())  # acme's s1 to partner
    assert rejected(decide(state, NAMES.share_requests("partner"), request)) == [
        ("TENANT_MISMATCH", "partner", Decision.REJECTED)
    ]
    shared = decide(state, NAMES.share_requests("acme"), request)
    assert not on(shared, NAMES.rejected), "on its own topic the same request is decided"


def _camera(tenant: str, camera_id: str = "gate", vendor: str | None = "lumen") -> CameraRegistration:
    world = build_world(seed=5, subjects_per_tenant=1)
    return world.camera("acme", "entrance").model_copy(
        update={"tenant_id": tenant, "camera_id": camera_id, "vendor_id": vendor}
    )


def test_a_camera_registration_speaks_only_for_its_topics_tenant() -> None:
    state = new_state()
    foreign = CODEC.encode(_camera("acme"))
    assert rejected(decide(state, NAMES.cameras("beta"), foreign, key=b"gate")) == [
        ("TENANT_MISMATCH", "beta", Decision.REJECTED)
    ]
    assert rejected(decide(state, NAMES.cameras("acme"), foreign, key=b"other")) == [
        ("KEY_MISMATCH", "acme", Decision.REJECTED)
    ]
    assert rejected(decide(state, NAMES.cameras("acme"), b"\xc3\x01 truncated", key=b"gate"))[0][0].startswith("DECODE")
    # The feeds apply what the agent accepts, and nothing it rejects.
    state.apply_camera("beta", "gate", foreign)
    state.apply_camera("acme", "other", foreign)
    assert state.cameras == {}
    state.apply_camera("acme", "gate", foreign)
    assert state.camera("acme", "gate") is not None and state.camera("beta", "gate") is None
    # A refused record ends the registration it replaces, in every worker: compaction keeps the
    # key's latest record alone, and a worker started after it never read the registration.
    for refused in (b"\xc3\x01 truncated", CODEC.encode(_camera("acme", camera_id="other"))):
        state.apply_camera("acme", "gate", foreign)
        state.apply_camera("acme", "gate", refused)
        assert state.camera("acme", "gate") is None


def test_two_tenants_may_name_their_cameras_alike() -> None:
    state = new_state()
    state.apply_camera("acme", "gate", CODEC.encode(_camera("acme")))
    state.apply_camera("beta", "gate", CODEC.encode(_camera("beta", vendor="optix")))
    assert state.camera("acme", "gate").vendor_id == "lumen"  # type: ignore[union-attr]
    assert state.camera("beta", "gate").vendor_id == "optix"  # type: ignore[union-attr]
    state.apply_camera("beta", "gate", None)  # beta's deregistration: acme's camera stays
    assert state.camera("acme", "gate") is not None and state.camera("beta", "gate") is None


@pytest.mark.parametrize("image", [None, b"\xff\xd8 a camera's jpeg"])
@pytest.mark.parametrize(
    ("registered", "sent_by", "reason"),
    [("lumen", "optix", "VENDOR_MISMATCH"), (None, "lumen", "VENDOR_MISMATCH"), ("lumen", "lumen", None)],
)
def test_a_capture_is_accepted_only_from_its_cameras_vendor(
    registered: str | None, sent_by: str, reason: str | None, image: bytes | None
) -> None:
    world = build_world(seed=6, subjects_per_tenant=3)
    state = loaded_state(world)
    camera = world.camera("acme", "entrance")
    state.apply_camera("acme", camera.camera_id, CODEC.encode(camera.model_copy(update={"vendor_id": registered})))
    item = next(i for i in iter(Traffic(world, seed=1)) if i.kind == "consenting-customer" and i.capture)
    assert item.capture is not None and item.capture.camera_id == camera.camera_id
    capture = item.capture.model_copy(update={"image": image})
    ctx = context(state)
    process_batch([InputRecord(NAMES.captures(sent_by), 0, 0, CODEC.encode(capture))], ctx)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]
    if reason is None:
        assert audit.decision is Decision.FORWARDED and not on(ctx.result, NAMES.rejected)
        return
    assert audit.decision is Decision.REJECTED and reason in audit.reason_codes and audit.subject_pseudonym is None
    # The dead letter names the refusal, not the image discarded beside it (IMAGE_DISCARDED sorts first).
    [dead] = [CODEC.decode(o.value or b"", RejectedEvent) for o in on(ctx.result, NAMES.rejected)]
    assert dead.reason_code == reason and not on(ctx.result, NAMES.governed("acme"))


def _decided_ids(result: BatchResult) -> set[str]:
    return {decided for _, decided in result.seen}


def test_no_vendor_can_make_anothers_capture_a_repeat() -> None:
    """A capture is known by the topic it came on (its vendor's alone), its camera and its event
    id: two vendors' ids may coincide, and one sending the other's ids (even naming its cameras)
    makes nothing of the other's a repeat; its own capture sent again is one."""
    world = build_world(seed=6, subjects_per_tenant=3)
    state = loaded_state(world)
    entrance = world.camera("acme", "entrance")  # lumen's
    optix_door = entrance.model_copy(update={"camera_id": "optix-door", "vendor_id": "optix"})
    state.apply_camera("acme", "optix-door", CODEC.encode(optix_door))
    item = next(i for i in iter(Traffic(world, seed=1)) if i.kind == "consenting-customer" and i.capture)
    assert item.capture is not None and item.capture.camera_id == entrance.camera_id
    real = item.capture
    own_camera = real.model_copy(update={"camera_id": "optix-door"})  # optix's camera, lumen's event id
    seen: set[str] = set()

    def decide(*records: InputRecord) -> BatchResult:
        ctx = context(state, seen=frozenset(seen))
        process_batch(list(records), ctx)
        seen.update(_decided_ids(ctx.result))
        return ctx.result

    def audited(result: BatchResult) -> list[tuple[str, Decision]]:
        audits = (CODEC.decode(o.value or b"", AuditRecord) for o in on(result, NAMES.audit))
        return [(a.event_id, a.decision) for a in audits]

    claiming = decide(InputRecord(NAMES.captures("optix"), 0, 0, CODEC.encode(real)))  # naming lumen's camera
    assert audited(claiming) == [(real.event_id, Decision.REJECTED)]
    alike = decide(InputRecord(NAMES.captures("optix"), 0, 1, CODEC.encode(own_camera)))
    assert len(audited(alike)) == 1 and not alike.duplicates
    genuine = decide(InputRecord(NAMES.captures("lumen"), 0, 0, CODEC.encode(real)))
    assert audited(genuine) == [(real.event_id, Decision.FORWARDED)] and not genuine.duplicates
    assert len(seen) == 3, "three decisions, three audit ids"
    # Each vendor's own capture sent again (at another offset) is a repeat.
    again = decide(
        InputRecord(NAMES.captures("lumen"), 0, 7, CODEC.encode(real)),
        InputRecord(NAMES.captures("optix"), 0, 9, CODEC.encode(real)),
    )
    assert again.duplicates == 2 and not again.outputs


def test_a_redo_is_a_repeat_whatever_the_registry_said_meanwhile() -> None:
    """What a capture is known by comes from the record alone: a camera registered, deregistered or
    moved to another vendor between a capture's decision and its redo leaves the redo a repeat."""
    world = build_world(seed=6, subjects_per_tenant=3)
    state = loaded_state(world)
    entrance = world.camera("acme", "entrance")
    item = next(i for i in iter(Traffic(world, seed=1)) if i.kind == "consenting-customer" and i.capture)
    assert item.capture is not None and item.capture.camera_id == entrance.camera_id
    capture = InputRecord(NAMES.captures("lumen"), 0, 5, CODEC.encode(item.capture))
    moved = CODEC.encode(entrance.model_copy(update={"vendor_id": "optix"}))
    for before, after in (
        (None, CODEC.encode(entrance)),
        (CODEC.encode(entrance), None),
        (CODEC.encode(entrance), moved),
    ):
        state.apply_camera("acme", entrance.camera_id, before)
        first = context(state)
        process_batch([capture], first)
        state.apply_camera("acme", entrance.camera_id, after)
        redo = context(state, seen=frozenset(_decided_ids(first.result)))
        process_batch([capture], redo)
        assert redo.result.duplicates == 1 and not redo.result.outputs
    # The camera now optix's: its capture with an id lumen used is its own decision.
    theirs = context(state, seen=frozenset(_decided_ids(first.result)))
    process_batch([InputRecord(NAMES.captures("optix"), 0, 0, CODEC.encode(item.capture))], theirs)
    assert not theirs.result.duplicates and len(on(theirs.result, NAMES.audit)) == 1


def test_no_capture_can_take_the_place_of_a_lifecycle_decision() -> None:
    """An enrollment's event id is its place in the log, which a vendor can predict: a capture
    named so is still only a capture, and the enrollment is audited when it comes."""
    world = build_world(seed=6, subjects_per_tenant=3)
    state = loaded_state(world)
    item = next(i for i in iter(Traffic(world, seed=1)) if i.kind == "consenting-customer" and i.capture)
    assert item.capture is not None
    enrolling = world.enrollments[0]
    place = enrollment_event_id(NAMES.enroll(enrolling.tenant_id), 0, 41)
    named_so = item.capture.model_copy(update={"event_id": place})
    ctx = context(state)
    process_batch([InputRecord(NAMES.captures("lumen"), 0, 0, CODEC.encode(named_so))], ctx)
    seen = _decided_ids(ctx.result)
    ctx = context(state, seen=frozenset(seen))
    key = f"{enrolling.tenant_id}/{enrolling.subject_id}".encode()
    decide_lifecycle(InputRecord(NAMES.enroll(enrolling.tenant_id), 0, 41, CODEC.encode(enrolling), 1, key), ctx)
    [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]
    assert audit.event_id == place and audit.decision is Decision.ENROLLED and not ctx.result.duplicates


def test_a_reused_share_request_id_is_another_decision_and_a_repeated_request_shares_nothing() -> None:
    state = enrolled(enrolled(new_state(), "s1"), "s2")
    seen: set[str] = set()

    def decide_request(subject: str, offset: int) -> BatchResult:
        ctx = context(state, seen=frozenset(seen))
        decide_lifecycle(
            record(NAMES.share_requests("acme"), CODEC.encode(share_request(subject_id=subject)), offset), ctx
        )
        seen.update(_decided_ids(ctx.result))
        return ctx.result

    first, second = decide_request("s1", 0), decide_request("s2", 1)  # one request_id, two subjects
    for result in (first, second):
        [audit] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(result, NAMES.audit)]
        assert audit.decision is Decision.SHARED and len(on(result, NAMES.governed("partner"))) == 1
    repeat = decide_request("s1", 2)  # the same request again: shared and audited once
    assert not repeat.outputs and repeat.duplicates == 1


def test_a_tenants_long_lists_make_a_small_dead_letter() -> None:
    """Review r1: a consent of 20,000 empty recipients (20 KB) made a 1.2 MB dead letter, one
    message per item; Kafka refused it and every worker that took the partition stopped, on every
    restart. A tenant's lists are bounded, and a dead letter is a few KB whatever it rejects."""
    state = new_state()
    hostile = [
        (NAMES.consent("acme"), "ConsentRecord", consent().to_avro() | {"recipients": [""] * 20_000}, b"acme/s1"),
        (NAMES.cameras("acme"), "CameraRegistration", _camera("acme").to_avro() | {"allowed_purposes": ["SECURITY"] * 20_000}, b"gate"),
        (NAMES.consent("acme"), "ConsentRecord", consent().to_avro() | {"recipients": [""] * 16}, b"acme/s1"),
    ]  # fmt: skip
    for topic, name, datum, key in hostile:
        result = decide(state, topic, CODEC.encode_datum(name, datum), key=key)
        [dead] = on(result, NAMES.rejected)
        [audit, *erased] = [CODEC.decode(o.value or b"", AuditRecord) for o in on(result, NAMES.audit)]
        assert (audit.tenant_id, audit.decision) == ("acme", Decision.REJECTED) and len(dead.value or b"") < 2048
        # A consent version that does not decode may have been a withdrawal: erased all the same.
        assert [a.decision for a in erased] == ([Decision.ERASED] if topic == NAMES.consent("acme") else [])


def test_a_dead_letters_reason_is_bounded_and_says_how_much_it_left_out() -> None:
    ctx = context(new_state())
    ctx.reject(record(NAMES.consent("acme"), b"x", offset=3), Refusal(UNDECIDABLE, Reason.BAD_KEY), "why? " * 20_000)
    [dead] = [CODEC.decode(o.value or b"", RejectedEvent) for o in on(ctx.result, NAMES.rejected)]
    assert len(dead.reason) <= MAX_REASON_LENGTH and dead.reason.startswith("why? why?")
    assert dead.reason.endswith(f"and {100_000 - (MAX_REASON_LENGTH - 40):,} more characters")


def test_a_consent_version_larger_than_a_worker_keeps_is_refused_and_voids_the_consent() -> None:
    """Review r2: every worker keeps 32 versions per subject and decodes them all for a decision;
    32 versions of an 830 KB consent for 4 subjects grew it by 1.4 GiB. Within the contract's
    bounds a version may still reach ~19.5 KB (256 characters of 4-byte UTF-8 in each id and
    recipient); one over 4 KiB is refused, and may have been a withdrawal: no consent from then on,
    as a version that does not decode. One that is a withdrawal erases all the same."""
    state = enrolled(new_state())
    large = consent(recipients=[f"{n:x}" + "\U0001f600" * 255 for n in range(16)])
    withdrawn = large.model_copy(update={"status": ConsentStatus.WITHDRAWN, "withdrawn_at": NOW})
    results = []
    for offset, version in enumerate((large, withdrawn)):
        assert len(CODEC.encode(version)) > MAX_VERSION_BYTES
        ctx = context(state)
        decide_lifecycle(record(NAMES.consent("acme"), CODEC.encode(version), offset), ctx)
        apply(state, ctx.result)
        results.append(ctx.result)
        if version is large:  # void in the ledger, as a version that does not decode: no consent
            assert state.consent("acme", "s1") is None and "acme/s1" in state.enrollments
    for result in results:
        [dead] = [CODEC.decode(o.value or b"", RejectedEvent) for o in on(result, NAMES.rejected)]
        assert dead.reason_code == "CONSENT_TOO_LARGE" and dead.reason.endswith("may have at most 4,096")
    audits = [CODEC.decode(o.value or b"", AuditRecord) for o in on(results[1], NAMES.audit)]
    assert [a.decision for a in audits] == [Decision.REJECTED, Decision.ERASED]
    assert "acme/s1" not in state.enrollments and "acme/s1" in state.withdrawals


def test_a_consent_version_of_exactly_the_bound_is_kept_and_one_byte_more_is_refused() -> None:
    def written_in(size: int) -> bytes:
        # 16 recipients of 241 characters, and an evidence reference making up the rest: from 64
        # characters on, each of its characters adds one byte (its length is a 2-byte varint).
        recipients = [f"{n:x}" + "r" * 240 for n in range(16)]
        padded = len(CODEC.encode(consent(recipients=recipients, evidence_ref="e" * 100)))
        value = CODEC.encode(consent(recipients=recipients, evidence_ref="e" * (100 + size - padded)))
        assert len(value) == size
        return value

    state = enrolled(new_state())
    for offset, size, kept in ((1, MAX_VERSION_BYTES, True), (2, MAX_VERSION_BYTES + 1, False)):
        ctx = context(state)
        decide_lifecycle(record(NAMES.consent("acme"), written_in(size), offset), ctx)
        dead = [CODEC.decode(o.value or b"", RejectedEvent).reason_code for o in on(ctx.result, NAMES.rejected)]
        assert dead == ([] if kept else ["CONSENT_TOO_LARGE"]), size
        assert (state.consent("acme", "s1") is not None) is kept, size  # over the bound: void in the ledger
