"""The dedupe window's ids in ~8 bytes each: every id added is found until its array is forgotten."""

from __future__ import annotations

import pytest

import gateway.shell.recent_ids as recent_ids_module
from gateway.shell.recent_ids import RecentIds


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent_ids_module, "SEAL", 4)
    monkeypatch.setattr(recent_ids_module, "MERGE_CAP", 32)


@pytest.mark.usefixtures("small")
def test_every_id_added_is_found_and_no_other() -> None:
    ids = RecentIds()
    for i in range(1000):
        ids.add(f"evt-{i}", i)
    assert all(f"evt-{i}" in ids for i in range(1000))
    assert not any(f"evt-{i}" in ids for i in range(1000, 3000))
    assert len(ids) == 1000


@pytest.mark.usefixtures("small")
def test_arrays_merge_as_a_binary_counter_up_to_the_cap() -> None:
    ids = RecentIds()
    for i in range(4 * 15):  # fifteen seals: 8 + 4 + 2 + 1 arrays' worth
        ids.add(f"evt-{i}", i)
    assert list(ids.arrays()) == [32, 16, 8, 4]
    for i in range(60, 64 * 4):
        ids.add(f"evt-{i}", i)
    sizes = list(ids.arrays())
    assert max(sizes) == 32 and sum(sizes) == 256 and len(sizes) == 8, "no array grows past the cap"


@pytest.mark.usefixtures("small")
def test_ids_are_forgotten_an_array_at_a_time_never_before_the_cutoff() -> None:
    ids = RecentIds()
    for i in range(200):
        ids.add(f"evt-{i}", 1000 + i)
    forgotten = ids.forget_before(1100)
    assert all(f"evt-{i}" in ids for i in range(100, 200)), "nothing decided at or after the cutoff is forgotten"
    assert 0 < forgotten <= 100 and len(ids) == 200 - forgotten, "whole arrays older than the cutoff are"
    assert ids.forget_before(1200) == 200 - forgotten and len(ids) == 0


def test_ids_read_back_with_their_times_are_found() -> None:
    ids = RecentIds({"e-1": 5, "e-2": 7})
    assert "e-1" in ids and "e-2" in ids and "e-3" not in ids
    assert ids.forget_before(7) == 0 and ids.forget_before(8) == 2
