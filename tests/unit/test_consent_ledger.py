"""The consent ledger: versions judged at the capture's time; withdrawal and narrowing bind at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.contract.models import ConsentRecord
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.consent import (
    MAX_VERSIONS,
    Consented,
    ConsentHistory,
    ConsentLedger,
    ConsentTerms,
    check_consent,
    consent_ref,
    effective_at,
)
from gateway.core.policy.outcome import Refusal

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 26, tzinfo=UTC)
TERMS = ConsentTerms(frozenset({"notice-v1"}), require_separate=True, require_written=False)
VISIT = Purpose.REPEAT_VISITOR_RECOGNITION


def grant(at: datetime = T0, **changes: object) -> ConsentRecord:
    fields: dict[str, object] = dict(
        tenant_id="acme", subject_id="s1", status=ConsentStatus.GRANTED, purposes=[VISIT], separate=True,
        method=ConsentMethod.ELECTRONIC, notice_version="notice-v1", granted_at=at,
    )  # fmt: skip
    return ConsentRecord.model_validate({**fields, **changes})


def withdraw(at: datetime) -> ConsentRecord:
    return grant(status=ConsentStatus.WITHDRAWN, withdrawn_at=at)


def check(history: ConsentHistory | None, at: datetime, purpose: Purpose | None = VISIT, minor: bool = False) -> str:
    result = check_consent(history, purpose, at, now=NOW, terms=TERMS, minor=minor)
    return "VALID" if isinstance(result, Consented) else result.reason


def history(*versions: ConsentRecord) -> ConsentHistory:
    return ConsentHistory(versions)


def test_a_grant_covers_captures_after_it_and_not_before() -> None:
    assert check(history(grant(T0)), T0 + timedelta(days=1)) == "VALID"
    assert check(history(grant(T0)), T0 - timedelta(seconds=1)) == "CONSENT_AFTER_CAPTURE"
    assert check(None, T0) == "NO_CONSENT"


def test_a_withdrawal_binds_at_once_even_for_captures_taken_before_it() -> None:
    h = history(grant(T0), withdraw(T0 + timedelta(days=10)))
    assert check(h, T0 + timedelta(days=1)) == "CONSENT_WITHDRAWN"


def test_a_capture_while_withdrawn_stays_unlawful_after_a_new_grant() -> None:
    h = history(grant(T0), withdraw(T0 + timedelta(days=10)), grant(T0 + timedelta(days=20)))
    assert check(h, T0 + timedelta(days=15)) == "CONSENT_WITHDRAWN"
    assert check(h, T0 + timedelta(days=25)) == "VALID"
    # Covered then, but withdrawn since: it should have been erased with the rest, and the new
    # grant does not reach back (a worker that has only the new grant and the gateway's own
    # withdrawal record after compaction refuses it too).
    assert check(h, T0 + timedelta(days=5)) == "CONSENT_WITHDRAWN"
    compacted = ConsentHistory((h.versions[-1],), withdrawn_at=T0 + timedelta(days=10))
    assert check(compacted, T0 + timedelta(days=5)) == "CONSENT_WITHDRAWN"
    assert check(compacted, T0 + timedelta(days=25)) == "VALID"


def test_an_update_that_drops_the_purpose_binds_at_once() -> None:
    h = history(
        grant(T0, purposes=[VISIT, Purpose.SECURITY]), grant(T0 + timedelta(days=10), purposes=[Purpose.SECURITY])
    )
    assert check(h, T0 + timedelta(days=1)) == "PURPOSE_NOT_CONSENTED"
    assert check(h, T0 + timedelta(days=1), Purpose.SECURITY) == "VALID"


def test_the_version_in_force_is_the_latest_to_take_effect_not_the_last_written() -> None:
    # A tenant's system may write a version dated back before one it wrote earlier.
    h = history(
        grant(T0 + timedelta(days=10), purposes=[Purpose.SECURITY]), grant(T0 + timedelta(days=5), purposes=[VISIT])
    )
    assert h.in_force(T0 + timedelta(days=20)) is h.versions[0]
    assert check(h, T0 + timedelta(days=20)) == "PURPOSE_NOT_CONSENTED"  # judged against the day-10 version
    assert h.in_force(T0 + timedelta(days=7)) is h.versions[1]


def test_the_sweep_is_given_the_expiry_of_the_version_in_force_not_of_the_last_written() -> None:
    # A correction dated back, without an end, leaves the later grant in force: decisions find it
    # expired, so the sweep must erase when it expires.
    ledger = ConsentLedger()
    expiring = grant(T0 + timedelta(days=10), expires_at=T0 + timedelta(days=30))
    ledger.record("acme/s1", expiring)
    ledger.record("acme/s1", grant(T0 + timedelta(days=5), evidence_ref="correction"))
    h = ledger.get("acme/s1")
    assert h is not None and h.in_force(NOW) == expiring and check(h, NOW) == "CONSENT_EXPIRED"
    assert ledger.expires_at("acme/s1") == expiring.expires_at and dict(ledger.expiries()) == {
        "acme/s1": expiring.expires_at
    }
    ledger.record("acme/s1", grant(T0 + timedelta(days=40)))  # taking effect last, without an end
    assert ledger.expires_at("acme/s1") is None and not ledger.expiries()
    # The mirror: the grant in force has no end, the correction written last expires. Decisions
    # judge both (the version written last binds too), so the sweep is given its end.
    ledger.record("acme/s2", grant(T0 + timedelta(days=10), subject_id="s2"))
    dated_back = grant(T0 + timedelta(days=5), subject_id="s2", expires_at=T0 + timedelta(days=30))
    ledger.record("acme/s2", dated_back)
    h = ledger.get("acme/s2")
    assert h is not None and check(h, NOW) == "CONSENT_EXPIRED"
    assert ledger.expires_at("acme/s2") == dated_back.expires_at


def test_an_update_that_adds_a_purpose_does_not_reach_back() -> None:
    h = history(
        grant(T0, purposes=[Purpose.SECURITY]), grant(T0 + timedelta(days=10), purposes=[VISIT, Purpose.SECURITY])
    )
    assert check(h, T0 + timedelta(days=1)) == "PURPOSE_NOT_CONSENTED"
    assert check(h, T0 + timedelta(days=11)) == "VALID"


def test_expiry_bundled_notice_written_and_minors() -> None:
    assert check(history(grant(expires_at=NOW)), T0 + timedelta(days=1)) == "CONSENT_EXPIRED"
    assert check(history(grant(separate=False)), T0 + timedelta(days=1)) == "CONSENT_BUNDLED"
    assert check(history(grant(notice_version="old")), T0 + timedelta(days=1)) == "NOTICE_UNKNOWN"
    assert check(history(grant(minor=True)), T0 + timedelta(days=1)) == "MINOR_WITHOUT_GUARDIAN"
    assert check(history(grant()), T0 + timedelta(days=1), minor=True) == "MINOR_WITHOUT_GUARDIAN"
    assert check(history(grant(minor=True, guardian_consent=True)), T0 + timedelta(days=1)) == "VALID"
    written = ConsentTerms(TERMS.notice_versions, require_separate=True, require_written=True)
    result = check_consent(history(grant()), VISIT, T0 + timedelta(days=1), now=NOW, terms=written, minor=False)
    assert isinstance(result, Refusal) and result.reason == "CONSENT_NOT_WRITTEN"


def test_a_grant_dated_exactly_at_the_gateways_withdrawal_is_a_replay() -> None:
    # The workers' side of CONSENT_REPLAYED: a grant given at or before the withdrawal grants nothing.
    assert check(ConsentHistory((grant(T0),), withdrawn_at=T0), T0 + timedelta(days=1)) == "CONSENT_WITHDRAWN"
    earlier = T0 - timedelta(milliseconds=1)
    assert check(ConsentHistory((grant(T0),), withdrawn_at=earlier), T0 + timedelta(days=1)) == "VALID"


def test_any_purpose_is_enough_for_an_enrollment_but_none_is_not() -> None:
    assert check(history(grant()), NOW, purpose=None) == "VALID"
    assert check(history(grant(purposes=[])), NOW, purpose=None) == "PURPOSE_NOT_CONSENTED"


def test_the_ledger_keeps_versions_per_subject_and_a_tombstone_forgets_them() -> None:
    ledger = ConsentLedger()
    ledger.record("acme/s1", grant(T0))
    ledger.record("acme/s1", withdraw(T0 + timedelta(days=1)))
    ledger.record("acme/s2", grant(T0, subject_id="s2"))
    h = ledger.get("acme/s1")
    assert h is not None and len(h.versions) == 2 and h.current.status is ConsentStatus.WITHDRAWN
    ledger.record("acme/s1", None)
    assert ledger.get("acme/s1") is None and list(ledger) == ["acme/s2"]


def test_the_ledger_keeps_encoded_versions_and_gives_back_the_same_records() -> None:
    """Versions are held encoded (a decoded record costs ~20x the memory); what comes back is what
    was recorded, whether or not it is among the few histories kept decoded."""
    ledger = ConsentLedger(decoded=2)
    expiring = grant(T0, expires_at=T0 + timedelta(days=30))
    for n in range(5):
        ledger.record(f"acme/s{n}", grant(T0, subject_id=f"s{n}"))
    ledger.record("acme/s0", expiring.model_copy(update={"subject_id": "s0"}))
    assert all(isinstance(v, bytes) for versions in ledger._versions.values() for v in versions)
    for _ in range(2):  # the second pass reads histories evicted from the decoded ones
        for n in range(5):
            h = ledger.get(f"acme/s{n}")
            assert h is not None and h.current.subject_id == f"s{n}" and h.versions[0] == grant(T0, subject_id=f"s{n}")
    assert len(ledger._decoded) == 2
    assert ledger.expires_at("acme/s0") == T0 + timedelta(days=30) and ledger.expires_at("acme/s1") is None
    ledger.record("acme/s0", withdraw(T0 + timedelta(days=2)).model_copy(update={"subject_id": "s0"}))
    h = ledger.get("acme/s0")  # a new version replaces the decoded history; the expiry was the grant's
    assert h is not None and h.current.status is ConsentStatus.WITHDRAWN and ledger.expires_at("acme/s0") is None


def test_the_histories_kept_decoded_are_counted_in_versions() -> None:
    """Review r2: 4,096 histories stayed decoded whatever their length, up to 32 versions each of
    up to 11 KB decoded (1.4 GB); the ledger keeps `decoded` versions in all instead."""
    ledger = ConsentLedger(decoded=64)
    for n in range(4):
        for day in range(32):
            ledger.record(f"acme/s{n}", grant(T0 + timedelta(days=day), subject_id=f"s{n}"), offset=100 * n + day)
        assert ledger.get(f"acme/s{n}") is not None
    assert list(ledger._decoded) == ["acme/s2", "acme/s3"] and ledger._held == 64
    ledger.record("acme/s3", grant(T0 + timedelta(days=40), subject_id="s3"), offset=400)  # extends its history
    assert list(ledger._decoded) == ["acme/s2", "acme/s3"] and ledger._held == 64
    assert (h3 := ledger.get("acme/s3")) is not None and h3.current.granted_at == T0 + timedelta(days=40)
    one = ConsentLedger(decoded=8)
    for day in range(32):
        one.record("acme/s1", grant(T0 + timedelta(days=day)), offset=day)
    assert one.get("acme/s1") is one.get("acme/s1"), "a history longer than the budget stays until the next"


def test_a_subjects_new_version_decodes_none_of_its_earlier_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review s47: each new version of one subject decoded every version held (up to 31) to find the
    one in force, in every worker's feed, and the agent then decoded all of them again: 22x a
    distinct subject's cost per record, which let one tenant's floods of a subject's versions, at a
    quarter of the suggested quota, hold other tenants' captures back for a minute."""
    ledger = ConsentLedger()
    decoded: list[bytes] = []
    decode = ledger.codec.decode

    def counted(value: bytes, record: type[ConsentRecord]) -> ConsentRecord:
        decoded.append(value)
        return decode(value, record)

    monkeypatch.setattr(ledger.codec, "decode", counted)  # the codec is shared: undone after the test
    for day in range(40):
        ledger.record("acme/s1", grant(T0 + timedelta(days=day)), offset=day)
    assert len(decoded) == 1  # the first version, once, when the second came
    assert (history := ledger.get("acme/s1")) is not None and len(decoded) == 1 + MAX_VERSIONS
    latest = grant(T0 + timedelta(days=50), expires_at=T0 + timedelta(days=60))
    ledger.record("acme/s1", latest, offset=50)  # the agent asks for the history it just applied
    assert ledger.get("acme/s1") == history.with_version(latest) and len(decoded) == 1 + MAX_VERSIONS
    assert ledger.expires_at("acme/s1") == latest.expires_at


# -- properties -----------------------------------------------------------------------------
days = st.integers(0, 60).map(lambda d: T0 + timedelta(days=d))
versions = st.builds(
    lambda at, withdrawn, purposes: withdraw(at) if withdrawn else grant(at, purposes=purposes),
    days,
    st.booleans(),
    st.lists(st.sampled_from([VISIT, Purpose.SECURITY]), unique=True),
)
histories = st.lists(versions, min_size=1, max_size=6).map(lambda v: ConsentHistory(tuple(v)))


def in_force_at(h: ConsentHistory, at: datetime) -> ConsentRecord | None:
    """The oracle, worked out apart from `ConsentHistory.in_force`: of the versions in effect at
    `at` (a withdrawal from its withdrawn_at, any other from its granted_at), the one that took
    effect latest; of those that took effect at the same time, the last written."""
    started = {
        i: v.withdrawn_at if v.status is ConsentStatus.WITHDRAWN and v.withdrawn_at is not None else v.granted_at
        for i, v in enumerate(h.versions)
    }
    in_effect = [(t, i) for i, t in started.items() if t <= at]
    return h.versions[max(in_effect)[1]] if in_effect else None


@given(histories, days)
def test_nothing_is_valid_unless_a_grant_covering_the_purpose_was_in_force_at_capture(
    h: ConsentHistory, at: datetime
) -> None:
    if check(h, at) == "VALID":
        then = in_force_at(h, at)
        assert then is not None and then.status is ConsentStatus.GRANTED and effective_at(then) <= at
        assert VISIT in then.purposes and VISIT in h.current.purposes
        assert h.current.status is ConsentStatus.GRANTED


@given(histories, days, st.integers(1, 30))
def test_a_grant_made_after_the_capture_never_legitimises_it(h: ConsentHistory, at: datetime, later: int) -> None:
    after = check(h.with_version(grant(at + timedelta(days=later), purposes=[VISIT, Purpose.SECURITY])), at)
    if after == "VALID":  # then a grant covering the purpose was in force when the capture was taken
        then = in_force_at(h, at)
        assert then is not None and then.status is ConsentStatus.GRANTED and VISIT in then.purposes


@given(histories, days, days)
def test_after_a_withdrawal_nothing_is_valid(h: ConsentHistory, at: datetime, withdrawn: datetime) -> None:
    assert check(h.with_version(withdraw(withdrawn)), at) == "CONSENT_WITHDRAWN"


def test_a_record_read_twice_or_out_of_order_is_applied_once() -> None:
    """The lifecycle agent applies a consent record before the feed reads it again."""
    ledger = ConsentLedger()
    ledger.record("acme/s1", grant(T0), offset=4)
    ledger.record("acme/s1", withdraw(T0 + timedelta(days=1)), offset=5)
    ledger.record("acme/s1", grant(T0), offset=4)  # the feed, behind, reads the grant again
    ledger.record("acme/s1", withdraw(T0 + timedelta(days=1)), offset=5)
    h = ledger.get("acme/s1")
    assert h is not None and len(h.versions) == 2 and h.current.status is ConsentStatus.WITHDRAWN
    ledger.record("acme/s1", None, offset=6)
    ledger.record("acme/s1", grant(T0), offset=4)
    assert ledger.get("acme/s1") is None


def test_a_historys_refs_are_each_versions_consent_ref() -> None:
    first, again, narrowed = grant(), grant(), grant(T0 + timedelta(days=1), purposes=[Purpose.ACCESS_CONTROL])
    h = history(first, again, narrowed)
    assert [h.ref(v) for v in h.versions] == [consent_ref(first), consent_ref(again), consent_ref(narrowed)]
    assert h.ref(narrowed) != h.ref(first) and h.ref(again) == h.ref(first), "equal records, equal refs"
    assert h.ref(h.in_force(T0 + timedelta(days=2)) or first) == consent_ref(narrowed)


ends = st.one_of(st.none(), st.integers(1, 90).map(lambda d: T0 + timedelta(days=d)))
written = st.builds(
    lambda at, withdrawn, end: withdraw(at) if withdrawn else grant(at, expires_at=end), days, st.booleans(), ends
)


@given(st.lists(st.tuples(written, st.booleans()), min_size=1, max_size=MAX_VERSIONS + 8))
def test_the_ledger_holds_the_last_versions_and_the_sweep_the_earlier_end_of_in_force_and_written_last(
    steps: list[tuple[ConsentRecord, bool]],
) -> None:
    ledger = ConsentLedger(decoded=MAX_VERSIONS)
    for offset, (version, asked) in enumerate(steps):
        ledger.record("acme/s1", version, offset=offset)
        if asked:  # as the agent does after applying one: a decoded history held when the next comes
            ledger.get("acme/s1")
        kept = tuple(v for v, _ in steps[: offset + 1])[-MAX_VERSIONS:]
        h = ledger.get("acme/s1")
        assert h is not None and h.versions == kept
        force = in_force_at(ConsentHistory(kept), datetime.max.replace(tzinfo=UTC))
        granted = [v.expires_at for v in (force, version) if v is not None and v.status is ConsentStatus.GRANTED]
        assert ledger.expires_at("acme/s1") == min((e for e in granted if e is not None), default=None)
