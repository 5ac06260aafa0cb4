"""The decisions (audit ids) one partition made within the dedupe window, in about 8 bytes each.

An hour of a busy partition is millions of ids: as the keys of a dict of str to time they took
~160 bytes each (bench/PROFILES.md). Here an id is kept as a 64-bit BLAKE2b of it under a key
drawn at start, which need not outlive the process (the ids are read back from the audit log at
every start) and which nobody outside knows, so no one can make an id collide with another
(Python's own `hash()` would do, unless PYTHONHASHSEED fixes its key); among n ids a new one is
taken for a repeat with probability n / 2^64. The newest ids are a set; every
SEAL of them become a sorted array with the time of the newest, and an array is merged with the
one before it while that is no larger, up to MERGE_CAP ids (as a binary counter: a few arrays
of each size), so a lookup is a set probe and a binary search per array (~0.6 µs each). Ids are
forgotten an array at a time, once its newest is older than the cutoff: an id may be remembered
longer than the window (by up to one array's span), never for less.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import blake2b

import numpy as np
import numpy.typing as npt

SEAL = 16_384  # ids in the set before they are sealed into an array (~1 MiB of set)
MERGE_CAP = 1 << 20  # no merge makes an array larger: an hour at 1,250 decisions/s is 5 of them
_KEYED = blake2b(digest_size=8, key=os.urandom(16))  # copied per id: a third faster than keying each anew


def _hash(event_id: str) -> int:
    keyed = _KEYED.copy()
    keyed.update(event_id.encode("utf-8", "surrogatepass"))
    return int.from_bytes(keyed.digest(), "little", signed=True)


@dataclass
class _Sealed:
    hashes: npt.NDArray[np.int64]  # sorted
    newest_ms: int


class RecentIds:
    def __init__(self, ids: dict[str, int] | None = None) -> None:
        self._open: set[int] = set()
        self._open_newest_ms = 0
        self._sealed: list[_Sealed] = []
        for event_id, at_ms in (ids or {}).items():
            self.add(event_id, at_ms)

    def __contains__(self, event_id: str) -> bool:
        key = _hash(event_id)
        if key in self._open:
            return True
        for sealed in self._sealed:
            hashes = sealed.hashes
            i = int(hashes.searchsorted(key))
            if i < len(hashes) and hashes[i] == key:
                return True
        return False

    def __len__(self) -> int:
        return len(self._open) + sum(len(s.hashes) for s in self._sealed)

    def arrays(self) -> Iterator[int]:
        """The sizes of the sealed arrays, oldest first (for tests and measurements)."""
        return (len(s.hashes) for s in self._sealed)

    def add(self, event_id: str, at_ms: int) -> None:
        self._open.add(_hash(event_id))
        self._open_newest_ms = max(self._open_newest_ms, at_ms)
        if len(self._open) >= SEAL:
            self._seal()

    def _seal(self) -> None:
        hashes = np.fromiter(self._open, dtype=np.int64, count=len(self._open))
        hashes.sort()
        self._sealed.append(_Sealed(hashes, self._open_newest_ms))
        self._open, self._open_newest_ms = set(), 0
        while (
            len(self._sealed) >= 2
            and len(self._sealed[-2].hashes) <= len(self._sealed[-1].hashes)
            and len(self._sealed[-2].hashes) + len(self._sealed[-1].hashes) <= MERGE_CAP
        ):
            last, before = self._sealed.pop(), self._sealed.pop()
            merged = np.concatenate((before.hashes, last.hashes))
            merged.sort()
            self._sealed.append(_Sealed(merged, max(before.newest_ms, last.newest_ms)))

    def forget_before(self, cutoff_ms: int) -> int:
        """Forget the arrays whose newest id was decided before `cutoff_ms`; returns how many ids."""
        kept = [s for s in self._sealed if s.newest_ms >= cutoff_ms]
        forgotten = sum(len(s.hashes) for s in self._sealed) - sum(len(s.hashes) for s in kept)
        self._sealed = kept
        if self._open and self._open_newest_ms < cutoff_ms:
            forgotten += len(self._open)
            self._open, self._open_newest_ms = set(), 0
        return forgotten
