"""The enrolled index finds exactly the best match, in batches, and forgets what is removed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.biometrics.matching import EnrolledIndex
from gateway.core.biometrics.protection import Scheme, hamming

SCHEME = Scheme(hashes=64)


def _codes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SCHEME.code_bytes), dtype=np.uint8)


def test_empty_index_matches_nobody() -> None:
    assert EnrolledIndex(SCHEME).search(_codes(3, 0)) == [EnrolledIndex(SCHEME).search(_codes(1, 0))[0]] * 3
    assert EnrolledIndex(SCHEME).search(_codes(1, 0))[0].subject_id is None


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**31))
def test_batched_search_is_exact(n: int, seed: int) -> None:
    gallery, probes = _codes(n, seed), _codes(7, seed + 1)
    index = EnrolledIndex(SCHEME)
    index.add_many([f"s{i}" for i in range(n)], gallery)
    for probe, match in zip(probes, index.search(probes), strict=True):
        distances = hamming(np.repeat(probe[None], n, axis=0), gallery)
        assert match.score == SCHEME.agreement(distances.min())
        assert match.subject_id is not None
        assert distances[int(match.subject_id[1:])] == distances.min()


def test_remove_and_re_enroll() -> None:
    codes = _codes(3, 5)
    index = EnrolledIndex(SCHEME)
    index.add_many(["alice", "bob", "carol"], codes)
    assert index.search(codes[1:2])[0].subject_id == "bob"
    assert index.remove("bob") and not index.remove("bob")
    assert "bob" not in index and len(index) == 2
    assert index.search(codes[1:2])[0].subject_id != "bob"
    # Re-enrolling replaces the old template.
    index.add("alice", codes[2])
    assert len(index) == 2
    assert index.search(codes[0:1])[0].score < 1.0
    assert {m.subject_id for m in index.search(codes[2:3])} <= {"alice", "carol"}


LONG = Scheme(hashes=1024)  # 256-byte codes: long enough for the cascade's prefixes


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 2**31)), min_size=1, max_size=40))
def test_adding_one_at_a_time_is_adding_them_together(enrollments: list[tuple[int, int]]) -> None:
    """The feeds add enrollments one by one (a restart loads a whole gallery so), by a path of its own."""
    one, together = EnrolledIndex(LONG, capacity=4, cascade_from=1), EnrolledIndex(LONG, capacity=4, cascade_from=1)
    for subject, seed in enrollments:  # repeats re-enroll a subject; a small capacity makes both grow
        code = np.random.default_rng(seed).integers(0, 256, LONG.code_bytes, dtype=np.uint8)
        one.add(f"s{subject}", code)
        together.add_many([f"s{subject}"], code[None])
    probes = np.random.default_rng(enrollments[0][1] + 1).integers(0, 256, (5, LONG.code_bytes), dtype=np.uint8)
    assert len(one) == len(together) == len({s for s, _ in enrollments})
    assert one.search(probes) == together.search(probes)


def test_adding_one_takes_one_whole_code() -> None:
    index = EnrolledIndex(SCHEME)
    for wrong in (np.zeros(SCHEME.code_bytes + 1, np.uint8), np.zeros((2, SCHEME.code_bytes), np.uint8)):
        with pytest.raises(ValueError, match="expected 1 code"):
            index.add("s", wrong)
    index.add("s", np.zeros((1, SCHEME.code_bytes), np.uint8))  # one row is one code
    assert len(index) == 1
