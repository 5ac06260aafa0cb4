"""The pure pipeline on the scenario's traffic: expected decisions, one audit each, isolation, no leaks."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from gateway.contract.models import AuditRecord, GovernedFace, RejectedEvent
from gateway.contract.vocabulary import Decision
from gateway.core import pipeline
from gateway.core.audit.chain import GENESIS, ChainHead, record_hash
from gateway.core.consent import withdrawal
from gateway.core.messages import BatchResult, InputRecord, Output
from gateway.core.pipeline import process_batch
from gateway.core.policy.tenant import development_tenant
from gateway.core.state import RecipientTemplate
from gateway.files.policies import policy_of
from gateway.keyring import Keyring
from gateway.sdk.scenario import Capture, Traffic, World, build_world
from tests.support.core import CODEC, NAMES, NOW, context, decide_batch, loaded_state, raw_records
from tests.support.leaks import LeakFinder, keyring_keys


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=11)


@pytest.fixture(scope="module")
def run(world: World) -> tuple[list[Capture], BatchResult]:
    items = Traffic(world).take(1500)
    result = decide_batch(raw_records(items), loaded_state(world))
    return items, result


def _decoded(result: BatchResult, topic_prefix: str, model: type) -> list:  # type: ignore[type-arg]
    return [CODEC.decode(o.value or b"", model) for o in result.outputs if o.topic.startswith(topic_prefix)]


def test_every_input_gets_one_audit_record_with_the_expected_decision(
    run: tuple[list[Capture], BatchResult],
) -> None:
    items, result = run
    audits = _decoded(result, NAMES.audit, AuditRecord)
    assert len(audits) == len(items)
    by_event = {a.event_id: a for a in audits}
    assert len(by_event) == len(items)
    for i, item in enumerate(items):
        event_id = item.capture.event_id if item.capture else f"undecodable:{NAMES.captures('lumen')}:{i % 4}:{i // 4}"
        audit = by_event[event_id]
        assert audit.decision is item.expected.decision, (item.kind, audit.reason_codes)
        assert item.expected.rule in audit.rule_ids, (item.kind, audit.rule_ids)
        if item.expected.reason:
            assert item.expected.reason in audit.reason_codes
        assert audit.policy_version and (audit.legal_sources or audit.pack_id is None)  # no pack: nothing to cite
    kinds = {i.kind for i in items}
    assert {"sales-office-commission", "toilet", "no-signage", "minor-without-guardian", "malformed"} <= kinds


def test_tenants_only_receive_their_own_events(run: tuple[list[Capture], BatchResult]) -> None:
    _, result = run
    governed = [o for o in result.outputs if ".governed." in o.topic]
    assert governed
    for output in governed:
        face = CODEC.decode(output.value or b"", GovernedFace)
        assert output.topic == NAMES.governed(face.tenant_id)
        assert face.decision in (Decision.FORWARDED, Decision.STRIPPED)
        if face.decision is Decision.STRIPPED:
            assert face.pseudonym is None and face.protected_template is None


def test_no_raw_template_or_image_leaves(run: tuple[list[Capture], BatchResult]) -> None:
    items, result = run
    blob = b"".join(o.key + (o.value or b"") for o in result.outputs)
    for item in items:
        if item.capture is not None:
            assert item.capture.template[:32] not in blob
            if item.capture.image:
                assert item.capture.image not in blob


def test_dead_letters_say_why_without_biometrics(run: tuple[list[Capture], BatchResult]) -> None:
    items, result = run
    dead = _decoded(result, NAMES.rejected, RejectedEvent)
    assert len(dead) == sum(1 for i in items if i.expected.decision is Decision.REJECTED)
    assert all(d.reason and d.reason_code.startswith("DECODE_") for d in dead)


def test_the_same_person_gets_one_pseudonym_per_tenant(run: tuple[list[Capture], BatchResult]) -> None:
    items, result = run
    faces = {f.event_id: f for f in _decoded(result, NAMES.prefix + "governed.", GovernedFace)}
    pseudonym_of: dict[str, set[str]] = {}
    for item in items:
        face = faces.get(item.capture.event_id) if item.capture else None
        if face is not None and face.pseudonym:
            assert item.subject is not None
            pseudonym_of.setdefault(item.subject, set()).add(face.pseudonym)
    assert pseudonym_of and all(len(names) == 1 for names in pseudonym_of.values())
    all_names = [next(iter(n)) for n in pseudonym_of.values()]
    assert len(set(all_names)) == len(all_names)  # different people, different pseudonyms
    assert all(name.startswith("t1-") and "customer" not in name for name in all_names)


def test_audit_chain_links_each_partition(run: tuple[list[Capture], BatchResult]) -> None:
    _, result = run
    chains: dict[int, list[AuditRecord]] = {}
    for output in result.outputs:
        if output.topic == NAMES.audit:
            assert output.partition is not None
            chains.setdefault(output.partition, []).append(CODEC.decode(output.value or b"", AuditRecord))
    assert set(chains) == {0, 1, 2, 3}
    for records_ in chains.values():
        previous = GENESIS
        for seq, record in enumerate(records_):
            assert record.seq == seq and record.prev_hash == previous and record.hash == record_hash(record)
            previous = record.hash


def test_repeated_event_ids_are_dropped_once_and_counted(world: World) -> None:
    items = Traffic(world, seed=3).take(20)
    batch = raw_records(items)
    twice = batch + [
        InputRecord(r.topic, r.partition, r.offset + 1000, r.value) for r in batch if items[batch.index(r)].capture
    ]
    result = decide_batch(twice, loaded_state(world))
    assert len(_decoded(result, NAMES.audit, AuditRecord)) == len(items)
    assert result.duplicates == sum(1 for i in items if i.capture)
    seen = {decided for _, decided in result.seen}  # audit ids
    again = decide_batch(batch, loaded_state(world), seen=frozenset(seen))
    assert again.duplicates == len(seen)


def test_a_repeat_decided_apart_from_its_first_is_a_duplicate(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither in a later slice of the batch (the worker decides a batch in slices) nor one at a
    time after the batch's try failed: the log does not hold the first yet, the context does."""
    items = [i for i in Traffic(world, seed=6).take(30) if i.capture][:10]
    batch = raw_records(items)
    repeats = [InputRecord(r.topic, r.partition, r.offset + 1000, r.value) for r in batch[:4]]
    ctx = context(loaded_state(world))
    ctx.decide_each(batch[:6], process_batch)
    ctx.decide_each([*batch[6:], *repeats], process_batch)  # the next slice repeats the first four
    audits = _decoded(ctx.result, NAMES.audit, AuditRecord)
    assert sorted(a.event_id for a in audits) == sorted(i.capture.event_id for i in items if i.capture)
    assert ctx.result.duplicates == len(repeats)

    # A batch whose try raises is decided one record at a time: its repeats are duplicates too.
    real = pipeline._identify
    calls: list[int] = []

    def once_failing(pending, *args):  # type: ignore[no-untyped-def]
        calls.append(len(pending))
        if len(calls) == 1:
            raise RuntimeError("the batch's try fails")
        return real(pending, *args)

    monkeypatch.setattr(pipeline, "_identify", once_failing)
    alone = context(loaded_state(world))
    alone.decide_each([*batch, *repeats], process_batch)
    assert len(calls) > 1 and not alone.result.errors  # tried together, then one at a time
    audits = _decoded(alone.result, NAMES.audit, AuditRecord)
    assert len(audits) == len(batch) and alone.result.duplicates == len(repeats)


def test_the_log_is_asked_once_per_event(world: World) -> None:
    """A capture is checked against the log at intake and again as it is decided: the log, which
    grows only when a batch commits, is asked once, in the batch's try and in its forks alike."""
    items = [i for i in Traffic(world, seed=7).take(30) if i.capture]
    asked: Counter[tuple[int, str]] = Counter()

    def is_seen(partition: int, decided: str) -> bool:
        asked[partition, decided] += 1
        return False

    ctx = replace(context(loaded_state(world)), is_seen=is_seen)
    ctx.decide_each(raw_records(items), process_batch)
    assert len(_decoded(ctx.result, NAMES.audit, AuditRecord)) == len(items)
    assert len(asked) == len(items) and set(asked.values()) == {1}


def test_chain_continues_from_a_given_head(world: World) -> None:
    head = ChainHead(41, "ab" * 32)
    result = decide_batch(raw_records(Traffic(world, seed=5).take(3))[:1], loaded_state(world), heads={0: head})
    [audit] = _decoded(result, NAMES.audit, AuditRecord)
    assert audit.seq == 42 and audit.prev_hash == "ab" * 32


def test_a_stripped_event_tells_the_tenant_nothing_about_a_match(world: World) -> None:
    """A withdrawn subject's face and a stranger's face reach the tenant as the same bytes, apart
    from ids and times; only the audit says which it was."""
    items = Traffic(world, seed=7).take(400)
    known = next(i for i in items if i.kind == "consenting-customer" and i.capture and i.subject)
    assert known.capture is not None and known.subject is not None
    stranger = next(
        i for i in items if i.kind == "stranger" and i.capture and i.capture.tenant_id == known.capture.tenant_id
    )
    state = loaded_state(world)
    granted = state.consent(known.capture.tenant_id, known.subject)
    assert granted is not None
    withdrawn = withdrawal(granted.current, known.capture.captured_at - timedelta(days=1))
    state.apply_consent(known.capture.tenant_id, f"{known.capture.tenant_id}/{known.subject}", CODEC.encode(withdrawn))
    result = decide_batch(raw_records([known, stranger]), state)
    audits = {a.event_id: a for a in _decoded(result, NAMES.audit, AuditRecord)}
    events = {g.event_id: g for g in _decoded(result, f"{NAMES.prefix}governed.", GovernedFace)}
    matched, nobody = events[known.capture.event_id], events[stranger.capture.event_id]  # type: ignore[union-attr]
    assert "CONSENT_WITHDRAWN" in audits[matched.event_id].reason_codes, "the audit keeps the detail"
    assert "NO_MATCH" in audits[nobody.event_id].reason_codes
    assert matched.decision is nobody.decision is Decision.STRIPPED and "NOT_IDENTIFIED" in matched.reason_codes
    own = {"event_id", "audit_id", "camera_id", "site_id", "captured_at", "purpose"}
    assert CODEC.encode(matched.model_copy(update={k: getattr(nobody, k) for k in own})) == CODEC.encode(nobody)


def test_a_tenant_that_asks_for_templates_gets_them_protected_never_raw(world: World) -> None:
    """forward_protected_template: a FORWARDED event carries the capture's template as its
    tenant's current key protects it (R08), a code of the scheme's size; no raw template, nor any
    run of one, leaves in any output, and a tenant that did not ask gets none."""
    keyring = Keyring.generate(list(world.tenants))  # its keys, to look for in the outputs too
    state = loaded_state(world, keyring)
    asks, other = world.tenants
    state.policies[asks] = policy_of(development_tenant(asks).model_copy(update={"forward_protected_template": True}))
    assert [getattr(state.policy(t), "forward_protected_template", None) for t in (asks, other)] == [True, False]
    items = Traffic(world, seed=8).take(300)  # malformed records among them: dead letters to scan too
    result = decide_batch(raw_records(items), state)

    faces = {f.event_id: f for f in _decoded(result, f"{NAMES.prefix}governed.", GovernedFace)}
    forwarded = [i.capture for i in items if i.capture and i.capture.event_id in faces]
    forwarded = [c for c in forwarded if faces[c.event_id].decision is Decision.FORWARDED]
    assert {c.tenant_id for c in forwarded} == {asks, other}
    code_bytes = state.calibrations[forwarded[0].template_model].scheme.code_bytes
    for capture in forwarded:
        face = faces[capture.event_id]
        if capture.tenant_id != asks:
            assert face.protected_template is None and face.template_key_version is None
            continue
        assert face.protected_template is not None
        size = len(face.protected_template)  # so that a failure does not print a raw template
        assert size == code_bytes < len(capture.template)
        # The code an enrollment of the same template gets under the tenant's current key: what the
        # tenant can compare with its own enrolled codes, and nothing the raw template can be read from.
        same = state.protect_enrollment(asks, "the-same-face", capture.template, capture.template_model, NOW)
        assert (face.protected_template, face.template_key_version) == (same.code, same.key_version)
    stripped = [f for f in faces.values() if f.decision is Decision.STRIPPED]
    assert stripped and all(f.protected_template is None for f in stripped)

    finder = LeakFinder(
        [i.capture.template for i in items if i.capture],
        [i.capture.image for i in items if i.capture and i.capture.image],
        keyring_keys(keyring.export()),
    )
    blobs: dict[str, bytes] = {}
    for output in result.outputs:
        blobs[output.topic] = blobs.get(output.topic, b"") + output.key + (output.value or b"")
    blobs["errors"] = "\n".join(result.errors).encode()
    blobs["decisions, for metrics"] = repr(result.decisions).encode()
    assert NAMES.governed(asks) in blobs and NAMES.rejected in blobs and NAMES.audit in blobs
    assert finder.leaks(blobs) == []


def test_the_records_reprs_show_no_payload() -> None:
    # A repr is what an assertion's message, a debugger or a log line's %r prints of a record.
    world = build_world(seed=5, subjects_per_tenant=1)
    template = world.enrollments[0].template
    shown = {
        "a raw input": repr(InputRecord(NAMES.enroll("acme"), 0, 7, CODEC.encode(world.enrollments[0]))),
        "an output": repr(Output(NAMES.enrolled, b"acme/s-1", template)),
        "a recipient's template": repr(RecipientTemplate(1, template)),
    }
    assert LeakFinder([template]).leaks({name: text.encode() for name, text in shown.items()}) == []


def test_r18_counts_identifications_when_the_broker_took_them_so_a_backlog_is_no_burst(world: World) -> None:
    # A worker down for 30 minutes decides the captures that waited all at once: counted when
    # decided, each of them beyond a steady tenant's baseline was an anomaly alert.
    item = next(i for i in Traffic(world).take(500) if i.expected.decision is Decision.FORWARDED)
    assert item.capture is not None
    state = loaded_state(world)
    start = NOW - timedelta(minutes=60)

    def at(minute: int, n: int, apart: float = 15) -> InputRecord:  # the n-th capture of a minute
        face = item.capture.model_copy(update={"event_id": f"e-{minute}-{n}"})  # type: ignore[union-attr]
        appended = start + timedelta(minutes=minute, seconds=n * apart)
        return InputRecord(NAMES.captures(item.vendor), n % 2, minute * 100 + n, CODEC.encode(face),
                           int(appended.timestamp() * 1000))  # fmt: skip

    def alerts(records: list[InputRecord], now: datetime) -> int:
        ctx = context(state, now=now)
        process_batch(records, ctx)
        audits = _decoded(ctx.result, NAMES.audit, AuditRecord)
        assert all(a.decision is Decision.FORWARDED for a in audits) and len(audits) == len(records)
        return sum("R18" in a.alerts for a in audits)

    for minute in range(20):  # decided as they come: four identifications a minute
        assert alerts([at(minute, n) for n in range(4)], start + timedelta(minutes=minute + 1)) == 0
    # On two partitions, fetched one after the other: the first reaches the present before the
    # second's older captures come.
    backlog = sorted((at(minute, n) for minute in range(20, 50) for n in range(4)), key=lambda r: r.partition)
    assert alerts(backlog, start + timedelta(minutes=51)) == 0
    burst = [at(51, n, apart=0.5) for n in range(64)]
    assert alerts(burst, start + timedelta(minutes=52)) > 0, "a real burst is still one"
