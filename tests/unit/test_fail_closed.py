"""Fail closed without Kafka: a worker whose feeds lag forwards nothing, and a consent record that
cannot be read voids the consent instead of leaving the old grant in force."""

from __future__ import annotations

from aiokafka import TopicPartition

from gateway.contract.models import AuditRecord, GovernedFace
from gateway.contract.vocabulary import Decision
from gateway.core.consent import Consented, check_consent
from gateway.core.context import Context
from gateway.core.pipeline import process_batch
from gateway.core.policy.decision import consent_terms
from gateway.sdk.scenario import Traffic, build_world
from gateway.shell.feeds import Lag
from tests.support.core import CODEC, NAMES, NOW, context, loaded_state, raw_records
from tests.support.lifecycle import consent, give, new_state, on


def test_lag_is_how_old_the_newest_end_offsets_read_past_are() -> None:
    a, b = TopicPartition("t.consent", 0), TopicPartition("t.enrolled", 1)
    lag = Lag()
    assert lag.seconds(now=5.0) == float("inf"), "never caught up: as far behind as can be"
    lag.observe({a: 10, b: 4}, {a: 10, b: 4}, now=100.0)
    assert lag.seconds(now=100.5) == 0.5 and lag.behind == {}
    # Written to all the time, read promptly: each look finds the previous look's ends read.
    for second in range(1, 30):
        lag.observe({a: 10 + second, b: 4}, {a: 11 + second, b: 4}, now=100.0 + second)
    assert lag.seconds(now=129.0) == 1.0 and lag.behind == {"t.consent": 1}
    # Stuck: nothing read for ten looks while writes go on.
    for second in range(30, 40):
        lag.observe({a: 39, b: 4}, {a: 11 + second, b: 4}, now=100.0 + second)
    assert lag.seconds(now=139.0) == 11.0 and lag.behind == {"t.consent": 11}


def test_a_worker_whose_feeds_lag_forwards_nothing() -> None:
    world = build_world(seed=11)
    records = raw_records(Traffic(world).take(600))
    on_time = context(loaded_state(world))
    process_batch(records, on_time)
    forwarded = {a.event_id for a in _audits(on_time) if a.decision is Decision.FORWARDED}
    assert forwarded, "the traffic has consented, enrolled subjects"

    behind = context(loaded_state(world))
    behind.feeds_behind = True
    process_batch(records, behind)
    audits = {a.event_id: a for a in _audits(behind)}
    assert not any(a.decision is Decision.FORWARDED for a in audits.values())
    assert all(audits[e].decision is Decision.STRIPPED and "FEEDS_BEHIND" in audits[e].reason_codes for e in forwarded)
    governed = [CODEC.decode(o.value or b"", GovernedFace) for o in behind.result.outputs if ".governed." in o.topic]
    assert all(g.pseudonym is None and g.protected_template is None for g in governed)


def test_an_unreadable_consent_record_voids_the_consent() -> None:
    state = new_state()
    give(state, consent("s1"))
    terms = consent_terms(state.policies["acme"])
    history = state.consent("acme", "s1")
    assert isinstance(check_consent(history, None, NOW, now=NOW, terms=terms, minor=False), Consented)
    state.apply_consent("acme", "acme/s1", b"\xc3\x01 not a record", offset=7)
    assert state.consent("acme", "s1") is None, "what may have been a withdrawal is not skipped"


def _audits(ctx: Context) -> list[AuditRecord]:
    return [CODEC.decode(o.value or b"", AuditRecord) for o in on(ctx.result, NAMES.audit)]
