"""The cascade's two kernels (64-bit columns with popcounts; AVX2 nibble lookups in blocks of 32
rows) against a numpy reference of what the cascade promises: among the rows whose 256-bit
prefix is within the radius the nearest full code, else the row with the nearest prefix."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from numba import njit

from gateway.core.biometrics import matching, scan
from gateway.core.biometrics.matching import EnrolledIndex
from gateway.core.biometrics.protection import Scheme

CODE_BYTES = 128
needs_avx2 = pytest.mark.skipif(not scan.AVX2, reason="no AVX2")
LAYOUTS = [False, pytest.param(True, marks=needs_avx2)]  # the column kernel, then the lookup kernel


def _bits(a: np.ndarray) -> np.ndarray:
    counts: np.ndarray = np.unpackbits(a, axis=-1).sum(axis=-1)
    return counts


def _reference(codes: np.ndarray, probes: np.ndarray, radius: int) -> tuple[list[int], list[int]]:
    rows, distances = [], []
    for probe in probes:
        prefix = _bits(codes[:, : scan.PREFIX_BYTES] ^ probe[: scan.PREFIX_BYTES])
        full = _bits(codes ^ probe)
        near = np.flatnonzero(prefix <= radius)
        row = int(near[np.argmin(full[near])]) if len(near) else int(np.argmin(prefix))
        rows.append(row)
        distances.append(int(full[row]))
    return rows, distances


def _gallery(count: int, probes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random codes, and probes that are enrolled codes with a quarter of their bits flipped (so
    most shortlist their own row and a few others), then some random strangers."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (count, CODE_BYTES), dtype=np.uint8)
    noise = np.packbits(rng.random((probes, CODE_BYTES * 8)) < 0.25, axis=1)
    near = codes[rng.integers(0, count, probes)] ^ noise
    near[probes * 3 // 4 :] = rng.integers(0, 256, (probes - probes * 3 // 4, CODE_BYTES), dtype=np.uint8)
    return codes, near


def _at_distances(probe: np.ndarray, distances: list[int], rng: np.random.Generator) -> np.ndarray:
    """Codes whose prefixes disagree with the probe's in exactly `distances` bits."""
    codes = np.repeat(probe[None], len(distances), axis=0)
    for code, d in zip(codes, distances, strict=True):
        flip = np.zeros(8 * scan.PREFIX_BYTES, bool)
        flip[rng.choice(8 * scan.PREFIX_BYTES, d, replace=False)] = True
        code[: scan.PREFIX_BYTES] ^= np.packbits(flip)
    return codes


def _search(
    codes: np.ndarray, probes: np.ndarray, radius: int, nibbles: bool, threads: int = 1
) -> tuple[list[int], list[int]]:
    prefixes = scan.Prefixes(len(codes) + 5, radius, nibbles)  # capacity past the last row: never read
    for row, code in enumerate(codes):
        prefixes.put(row, code)
    full = np.zeros((len(codes) + 5, CODE_BYTES), np.uint8)
    full[: len(codes)] = codes
    rows, distances = prefixes.cascade(full.view(np.uint64), len(codes), probes.view(np.uint64), threads)
    return rows.tolist(), distances.tolist()


@pytest.mark.parametrize("nibbles", LAYOUTS)
@pytest.mark.parametrize(
    ("count", "probes"),
    [(1, 1), (31, 9), (33, 8), (1024, 7), (1000, 2), (1000, 3), (2100, 12), (2100, 18), (1025, 65), (3000, 70)],
)
def test_each_kernel_returns_the_reference_match(nibbles: bool, count: int, probes: int) -> None:
    codes, batch = _gallery(count, probes, seed=count + probes)
    assert _search(codes, batch, 107, nibbles) == _reference(codes, batch, 107)


@pytest.mark.parametrize("nibbles", LAYOUTS)
@pytest.mark.parametrize("radius", [0, 100, 128, 254])
def test_any_radius_and_a_probe_that_shortlists_nothing(nibbles: bool, radius: int) -> None:
    codes, batch = _gallery(2100, 20, seed=radius)
    assert _search(codes, batch, radius, nibbles) == _reference(codes, batch, radius)


@pytest.mark.parametrize("nibbles", LAYOUTS)
@pytest.mark.parametrize(("count", "threads"), [(3500, 2), (3500, 3), (4096, 4), (500, 4), (2049, 8)])
@pytest.mark.parametrize("radius", [0, 107])
def test_threads_split_the_rows_and_return_one_scans_match(
    nibbles: bool, count: int, threads: int, radius: int
) -> None:
    codes, batch = _gallery(count, 20, seed=count + threads)
    # Ties across the threads' runs: the same code early and late, which one scan finds first.
    codes[count - 1], codes[3] = codes[0], codes[0]
    batch[0] = codes[0]
    found = _search(codes, batch, radius, nibbles, threads)
    assert found == _reference(codes, batch, radius) == _search(codes, batch, radius, nibbles)
    assert found[0][0] == 0


def test_a_search_split_more_than_32_ways_runs_every_part_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run has a thread of its own (a pool's default stops at 32): every run waits at a
    barrier for all the others before it scans, which only runs on 40 threads at once pass."""
    threads = 40
    together = threading.Barrier(threads, timeout=60)
    kernel = "_cascade_nibbles_compiled" if scan.NIBBLES else "_cascade_columns_compiled"
    scanned = getattr(scan, kernel)

    def after_the_others(*args: Any) -> None:
        together.wait()
        scanned(*args)

    codes, batch = _gallery(threads * scan._BLOCK + 1, 4, seed=threads)
    expected = _search(codes, batch, 107, scan.NIBBLES)
    monkeypatch.setattr(scan, kernel, after_the_others)
    assert _search(codes, batch, 107, scan.NIBBLES, threads) == expected == _reference(codes, batch, 107)


@njit
def _hit_bytes(planes: Any, tables: Any, blocks: int, group: int, radius: int, out: Any) -> None:  # pragma: no cover
    for b in range(blocks):  # the first `group` probes' tables against each block of 32 rows
        scan._lookup(group, planes, b * scan._BLOCK, tables, 0, radius, out, b * scan.ROWS)


@needs_avx2
@pytest.mark.parametrize("group", [1, 2, 4, 8])
@pytest.mark.parametrize("radius", [0, 1, 107, 254])
def test_the_lookup_kernel_shortlists_exactly_the_rows_within_the_radius(radius: int, group: int) -> None:
    # Rows at the radius and one past it, a row that disagrees in every bit (a sum that saturates),
    # over three blocks of 32 rows, for each size of group a lookup serves: its probes' bits are
    # exact, and the probes past it (eight are given) are never looked at.
    rng = np.random.default_rng(radius)
    probes = rng.integers(0, 256, (8, CODE_BYTES), dtype=np.uint8)
    distances = sorted({0, 1, max(radius - 1, 0), radius, radius + 1, 200, 255, 256})
    built = np.concatenate([_at_distances(p, distances, rng) for p in probes[:group]])[:96]
    codes = np.zeros((96, CODE_BYTES), np.uint8)  # three whole blocks; rows past `built` are zeros
    codes[: len(built)] = built
    prefixes = scan.Prefixes(len(codes), radius, nibbles=True)
    for row, code in enumerate(codes):
        prefixes.put(row, code)
    hits = np.zeros(96, np.uint8)
    _hit_bytes(prefixes._data.reshape(-1), scan._tables(probes), 3, group, radius, hits)
    within = _bits(codes[None, :, : scan.PREFIX_BYTES] ^ probes[:, None, : scan.PREFIX_BYTES]) <= radius
    for p in range(group):
        assert ((hits >> p) & 1).astype(bool).tolist() == within[p].tolist()
    assert not (hits >> group).any()
    assert within[:group].any() and not within[:group].all()


def test_a_radius_the_kernel_cannot_sum_is_refused_when_the_index_is_made() -> None:
    assert scan.Prefixes(10, 256, nibbles=False).radius == 256
    if scan.AVX2:
        with pytest.raises(ValueError, match="outside 0-254"):
            scan.Prefixes(10, 255, nibbles=True)
        with pytest.raises(ValueError, match="outside 0-254"):
            EnrolledIndex(Scheme(hashes=CODE_BYTES * 8), radius=1.0, nibbles=True)
    with pytest.raises(ValueError, match="outside 0-256"):
        scan.Prefixes(10, -1, nibbles=False)


@needs_avx2
def test_the_kernels_agree() -> None:
    codes, batch = _gallery(5000, 64, seed=5)
    assert _search(codes, batch, 107, True) == _search(codes, batch, 107, False)


@pytest.mark.parametrize(("probes", "threads", "from_probes"), [(40, 2, 10), (3, 1, 10), (3, 2, 4), (5, 1, 6)])
def test_an_index_splits_only_a_large_search_between_its_threads(
    monkeypatch: pytest.MonkeyPatch, probes: int, threads: int, from_probes: int
) -> None:
    # A search splits from PARALLEL_FROM gallery x probes (at least four counted); scaled down
    # here to 3,000 x `from_probes`: 40 probes split from 10 and 3 do not, but 3 count as 4.
    monkeypatch.setattr(matching, "PARALLEL_FROM", 3000 * from_probes)
    asked: list[int] = []
    cascade = scan.Prefixes.cascade

    def spied(self: scan.Prefixes, full: Any, count: int, batch: Any, threads: int = 1) -> Any:
        asked.append(threads)
        return cascade(self, full, count, batch, threads)

    monkeypatch.setattr(scan.Prefixes, "cascade", spied)
    scheme = Scheme(hashes=CODE_BYTES * 8)
    codes, batch = _gallery(3000, probes, seed=probes)
    index = EnrolledIndex(scheme, cascade_from=1, threads=2)
    index.add_many([f"s{i}" for i in range(3000)], codes)
    rows, distances = _reference(codes, batch, index.radius)
    found = index.search(batch)
    assert asked == [threads]
    assert [m.subject_id for m in found] == [f"s{r}" for r in rows]
    assert [m.score for m in found] == scheme.agreement(np.array(distances)).tolist()


@pytest.mark.parametrize("nibbles", LAYOUTS)
def test_an_index_keeps_its_prefixes_through_removals_and_growth(nibbles: bool) -> None:
    scheme = Scheme(hashes=CODE_BYTES * 8)
    codes, batch = _gallery(700, 40, seed=9)
    index = EnrolledIndex(scheme, capacity=10, cascade_from=1, nibbles=nibbles)
    index.add_many([f"s{i}" for i in range(700)], codes)
    removed = set(range(0, 700, 3)) | {699}  # the last row too: its slot is cleared, not moved
    for i in sorted(removed):
        assert index.remove(f"s{i}")
    # Removal moves the last row into the gap: the reference reads the codes in the index's order.
    order = [int(subject[1:]) for subject in index._subject_at]
    assert sorted(order) == [i for i in range(700) if i not in removed]
    expected_rows, expected = _reference(codes[order], batch, index.radius)
    found = index.search(batch)
    assert [m.subject_id for m in found] == [f"s{order[r]}" for r in expected_rows]
    assert [m.score for m in found] == scheme.agreement(np.array(expected)).tolist()


@pytest.mark.parametrize("nibbles", LAYOUTS)
@pytest.mark.parametrize("viewed", [False, True])
def test_an_index_grows_in_place_unless_its_arrays_are_viewed(nibbles: bool, viewed: bool) -> None:
    # In place, a large array's pages are remapped, not copied; numpy refuses while a view of it is
    # held (or a weak reference), and the index copies instead: the same matches either way, and
    # the view stays valid.
    scheme = Scheme(hashes=CODE_BYTES * 8)
    codes, batch = _gallery(700, 40, seed=11)
    index = EnrolledIndex(scheme, capacity=10, cascade_from=1, nibbles=nibbles)
    index.add_many([f"s{i}" for i in range(300)], codes[:300])
    prefix, capacity = index._prefix, len(index._codes)
    assert prefix is not None
    # Identities, not references (which would stop numpy); one growth, so a copy is made while the
    # array it replaces is alive and cannot take its id.
    before = [id(index._codes), id(prefix._data)]
    first_rows = prefix._data[:1] if nibbles else prefix._data[:, :1]  # rows the second add leaves alone
    held = [index._codes[:5], first_rows] if viewed else []
    del first_rows
    kept = [h.copy() for h in held]
    index.add_many([f"s{i}" for i in range(300, capacity + 1)], codes[300 : capacity + 1])
    assert len(index._codes) == capacity + capacity // 4 + 1
    in_place = [before[0] == id(index._codes), before[1] == id(prefix._data)]
    assert in_place == [not viewed, nibbles and not viewed]  # the column layout grows along rows: copied
    assert all(np.array_equal(h, k) for h, k in zip(held, kept, strict=True))
    expected_rows, expected = _reference(codes[: capacity + 1], batch, index.radius)
    found = index.search(batch)
    assert [m.subject_id for m in found] == [f"s{r}" for r in expected_rows]
    assert [m.score for m in found] == scheme.agreement(np.array(expected)).tolist()


def test_the_lookup_kernel_follows_what_numba_compiles_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # An operator who sets NUMBA_CPU_FEATURES or NUMBA_CPU_NAME chooses the target, whatever the host.
    monkeypatch.setattr(scan.config, "CPU_NAME", None)
    monkeypatch.setattr(scan.config, "CPU_FEATURES", "+sse4.2,+popcnt,-avx2")
    assert not scan._target("avx2")
    monkeypatch.setattr(scan.config, "CPU_FEATURES", "+popcnt,+avx2")
    assert scan._target("avx2") and not scan._target("avx512vpopcntdq")
    monkeypatch.setattr(scan.config, "CPU_FEATURES", "")
    monkeypatch.setattr(scan.config, "CPU_NAME", "generic")
    assert not scan._target("avx2")
    monkeypatch.setattr(scan, "AVX2", False)
    with pytest.raises(ValueError, match="needs AVX2"):
        scan.Prefixes(64, 107, nibbles=True)
    assert not scan.Prefixes(64, 107, nibbles=False).nibbles
