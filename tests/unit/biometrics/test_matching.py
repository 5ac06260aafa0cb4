"""The enrolled index finds exactly the best match, in batches, and forgets what is removed."""

from __future__ import annotations

import numpy as np
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
