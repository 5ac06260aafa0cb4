"""Hostile captures through the pure pipeline (hypothesis): whatever arrives ends as a dead letter
or a reasoned decision, the batch never raises, and nothing biometric leaves in a dead letter."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.contract.models import AuditRecord, FaceCaptured, RejectedEvent
from gateway.contract.vocabulary import Decision, Occlusion, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.messages import InputRecord
from gateway.core.state import GatewayState
from gateway.sdk.scenario import World, build_world
from tests.support.core import CODEC, NAMES, NOW, decide_batch, loaded_state
from tests.support.leaks import LeakFinder


@cache
def fixture() -> tuple[World, GatewayState]:
    world = build_world(seed=13)
    return world, loaded_state(world)


def _template(kind: str, rng_seed: int) -> bytes:
    world, _ = fixture()
    good = world.population.captures([0], stream=rng_seed, noise=0.4)[0]
    values = np.asarray(good, dtype="<f4").copy()
    if kind == "nan":
        values[rng_seed % 512] = np.nan
    elif kind == "inf":
        values[rng_seed % 512] = np.inf
    elif kind == "short":
        values = values[:128]
    elif kind == "zero":
        values[:] = 0
    elif kind == "huge":
        values *= 1e30
    return to_bytes(values)


ids = st.text(min_size=1, max_size=64)  # any Unicode: RTL marks, NULs, emoji, surrogates excluded by str
times = st.sampled_from([NOW, NOW + timedelta(days=3650), datetime(1971, 1, 1, tzinfo=UTC), NOW - timedelta(seconds=1)])
captures = st.builds(
    lambda event_id, tenant, camera, at, purpose, kind, seed, quality, occlusion: FaceCaptured(
        event_id=event_id, camera_id=camera, tenant_id=tenant, captured_at=at, purpose=purpose,
        template=_template(kind, seed), template_model="synthetic-512", quality=quality, occlusion=occlusion,
        image=b"\xff\xd8\xff\xe0 crop" if seed % 3 == 0 else None, age_estimate=seed % 90,
    ),
    ids, st.sampled_from(["acme", "beta", "mallory"]),  # "mallory" spoofs a tenant of others' cameras
    st.sampled_from(["acme-entrance", "beta-entrance", "acme-toilet", "nobody"]), times, st.sampled_from(list(Purpose)),
    st.sampled_from(["good", "nan", "inf", "short", "zero", "huge"]), st.integers(0, 10_000), st.floats(0, 1),
    st.sampled_from(list(Occlusion)),
)  # fmt: skip
raw_bytes = st.one_of(
    st.binary(max_size=300),
    captures.map(lambda c: CODEC.encode(c)[: max(10, len(CODEC.encode(c)) // 2)]),  # truncated Avro
    st.binary(min_size=8, max_size=8).map(lambda fp: b"\xc3\x01" + fp + b"\x02ab"),  # unknown fingerprints
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.one_of(captures, raw_bytes), min_size=1, max_size=12), st.booleans())
def test_hostile_batches_end_in_decisions_or_dead_letters(inputs: list[FaceCaptured | bytes], replay: bool) -> None:
    _, state = fixture()
    finder = LeakFinder([c.template for c in inputs if isinstance(c, FaceCaptured)])
    payloads = [CODEC.encode(c) if isinstance(c, FaceCaptured) else c for c in inputs]
    if replay:  # the same event ids again in one batch
        payloads = payloads + payloads
    records = [InputRecord(NAMES.captures("lumen"), 0, n, p) for n, p in enumerate(payloads)]
    result = decide_batch(records, state, audit_partitions=1)
    audits = [CODEC.decode(o.value or b"", AuditRecord) for o in result.outputs if o.topic == NAMES.audit]
    assert len(audits) + result.duplicates == len(payloads), "one decision per input, repeats counted"
    assert all((a.rule_ids and a.reason_codes) or a.decision is Decision.FORWARDED for a in audits)
    for o in result.outputs:
        if o.topic == NAMES.rejected:
            dead = CODEC.decode(o.value or b"", RejectedEvent)
            assert dead.reason and dead.payload_sha256
            assert not finder.leaks({"dead letter": o.value or b""}), "no template in a dead letter"
            assert not any(len(p) >= 32 and p in (o.value or b"") for p in payloads), "nor the input itself"
        if o.topic.startswith(NAMES.prefix + "governed."):
            assert o.topic.endswith((".acme", ".beta")), "a spoofed tenant gets no topic"


def test_a_10_mb_record_is_a_dead_letter_that_does_not_carry_it() -> None:
    _, state = fixture()
    huge = b"\xc3\x01" + struct.pack("<Q", 1) + b"\x00" * (10 * 2**20)
    result = decide_batch([InputRecord(NAMES.captures("lumen"), 0, 0, huge)], state, audit_partitions=1)
    [dead] = [o for o in result.outputs if o.topic == NAMES.rejected]
    assert len(dead.value or b"") < 2048
    assert CODEC.decode(dead.value or b"", RejectedEvent).payload_size == len(huge)
