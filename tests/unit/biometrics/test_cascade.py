"""The cascade (a 256-bit prefix shortlists, the full code decides) against exhaustive search on
synthetic populations: genuine probes identified at the operating threshold find the same best
match (>= 99.9%), impostors are accepted no more often, and it follows adds and removals."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.core.biometrics.matching import EnrolledIndex
from gateway.core.biometrics.protection import Protector, Scheme
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.files.calibrations import shipped

PEOPLE = 20_000
PROBES = 3_000


def _protector() -> Protector:
    return shipped()[SYNTHETIC_512.name].protector(b"cascade-test".ljust(32, b"\0"), 1)


@pytest.fixture(scope="module")
def galleries() -> tuple[EnrolledIndex, EnrolledIndex, Population, float]:
    calibration = shipped()[SYNTHETIC_512.name]
    protector = _protector()
    population = Population.create(SYNTHETIC_512, PEOPLE + PROBES, seed=11)  # the last PROBES never enrolled
    codes = protector.protect(population.captures(np.arange(PEOPLE), 0))
    ids = [f"p{i}" for i in range(PEOPLE)]
    cascade = EnrolledIndex(calibration.scheme, cascade_from=1)
    exhaustive = EnrolledIndex(calibration.scheme, cascade_from=PEOPLE + 1)
    cascade.add_many(ids, codes)
    exhaustive.add_many(ids, codes)
    threshold = calibration.threshold(masked=False, far=1e-4 / 1_000_000)  # the operating threshold at 1M
    return cascade, exhaustive, population, threshold


def test_genuine_probes_find_exhaustive_searchs_best_match(
    galleries: tuple[EnrolledIndex, EnrolledIndex, Population, float],
) -> None:
    cascade, exhaustive, population, threshold = galleries
    protector = _protector()
    people = np.random.default_rng(3).integers(0, PEOPLE, PROBES)
    probes = protector.protect(population.captures(people, 1))
    fast, exact = cascade.search(probes), exhaustive.search(probes)
    identified = [(f, e) for f, e in zip(fast, exact, strict=True) if e.score > threshold]
    assert len(identified) > 0.4 * PROBES  # at 1M the threshold keeps a stranger's odds at 1e-4: half are identified
    same = sum(f.subject_id == e.subject_id and f.score == e.score for f, e in identified)
    assert same >= 0.999 * len(identified)
    # Never a better score than exhaustive search: what it returns is a real enrolled code's score.
    assert all(f.score <= e.score for f, e in zip(fast, exact, strict=True))


def test_impostors_are_accepted_no_more_often(
    galleries: tuple[EnrolledIndex, EnrolledIndex, Population, float],
) -> None:
    cascade, exhaustive, population, _ = galleries
    protector = _protector()
    strangers = protector.protect(population.captures(np.arange(PEOPLE, PEOPLE + PROBES), 1))
    fast, exact = cascade.search(strangers), exhaustive.search(strangers)
    assert all(f.subject_id is not None for f in fast)  # a probe shortlisting nothing still gets its nearest
    # A threshold low enough that exhaustive search accepts some strangers: the cascade accepts no more.
    loose = float(np.quantile([e.score for e in exact], 0.99))
    assert sum(f.score > loose for f in fast) <= sum(e.score > loose for e in exact)
    assert all(f.score <= e.score for f, e in zip(fast, exact, strict=True))


def test_cascade_follows_adds_removals_and_growth() -> None:
    scheme = Scheme(hashes=1024)
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, (3000, scheme.code_bytes), dtype=np.uint8)
    index = EnrolledIndex(scheme, capacity=16, cascade_from=1)
    index.add_many([f"s{i}" for i in range(3000)], codes)  # grows from 16 rows
    assert [m.subject_id for m in index.search(codes[[0, 1500, 2999]])] == ["s0", "s1500", "s2999"]
    assert all(m.score == 1.0 for m in index.search(codes[:50]))
    assert index.remove("s0") and index.remove("s1500")
    after = index.search(codes[[0, 1500, 2999]])
    assert after[0].subject_id != "s0" and after[1].subject_id != "s1500" and after[2].subject_id == "s2999"
    index.add("s1500", codes[7])  # re-enrolled with another code
    assert index.search(codes[7:8])[0].subject_id in {"s7", "s1500"} and index.search(codes[7:8])[0].score == 1.0
    assert index.search(codes[1500:1501])[0].score < 1.0


def test_small_codes_stay_exhaustive() -> None:
    index = EnrolledIndex(Scheme(hashes=64), cascade_from=1)  # 8 bytes: no prefix shorter than the code
    assert index.cascade_from is None


def test_batch_size_does_not_change_results(
    galleries: tuple[EnrolledIndex, EnrolledIndex, Population, float],
) -> None:
    # Probes are scanned four at a time, the rest of a 64-probe chunk one at a time: every split of
    # the same probes must give the same matches.
    cascade, _, population, _ = galleries
    protector = _protector()
    probes = protector.protect(population.captures(np.arange(0, PEOPLE, PEOPLE // 71)[:71], 2))
    whole = cascade.search(probes)
    for size in (1, 3, 4, 5, 66):
        split = [m for start in range(0, len(probes), size) for m in cascade.search(probes[start : start + size])]
        assert split == whole
    assert sum(m.subject_id == f"p{i * (PEOPLE // 71)}" for i, m in enumerate(whole)) > 0.9 * len(whole)
