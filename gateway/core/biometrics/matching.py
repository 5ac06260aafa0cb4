"""A tenant's enrolled protected templates and batched 1:N search over them.

Protected codes are bit strings, so search is a Hamming search. Up to CASCADE_FROM enrolled
subjects it is exhaustive (faiss' knn_hamming, popcount over packed codes): the best match is
never missed. Beyond that a cascade (gateway.core.biometrics.scan) reads a 256-bit prefix of
every code and computes the full distance only where the prefix disagrees in at most 107 of its
256 bits (41.8%). The prefix is an unbiased sample of a code's bits, so a genuine probe (about
28% of bits disagreeing; 36% at the strictest shipped threshold, agreement 0.64) rarely exceeds
that, and a stranger (50%) rarely stays under it: 1.4-2% of a gallery is compared in full (2% of
the synthetic 1M gallery, whose strangers are not quite independent). Measured on 37,419 genuine
probes identified by exhaustive search at the operating threshold, the cascade returned the same
best match for 99.97% (0.4375 = 112 bits: 100%, at twice the candidates; bench.matching,
tests/unit/biometrics/test_cascade.py). It can only miss a match, never score one higher than
exhaustive search would, so false accepts cannot rise. The codes live in one numpy array that
grows by a quarter when full, beside a copy of their prefixes (32 bytes each) laid out for the
scan kernel the CPU runs best (gateway.core.biometrics.scan);
removal moves the last row into the gap, so memory is the codes, the prefixes, one list slot and
one dict entry per subject. A large search (either kind) splits between the CPUs the process may
use (`threads`: OpenMP's count, within a container's CPU limit), with the same result as one
thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from gateway.core.biometrics import scan
from gateway.core.biometrics.protection import Codes, Scheme

# OpenMP's thread count: OMP_NUM_THREADS (which importing gateway sets from a container's CPU
# limit when unset: gateway/cpus.py), else the CPUs this process may run on (one when pinned).
CORES = max(1, faiss.omp_get_max_threads())
PARALLEL_FROM = 64 * 20_000  # probe x gallery comparisons per call from which a search uses every core
CASCADE_FROM = 32_768  # enrolled subjects from which the cascade searches (exhaustive below)
PREFIX_RADIUS = 107 / 256  # share of the prefix bits that may disagree for a full comparison


@dataclass(frozen=True)
class Match:
    """Best enrolled subject for one probe, or subject None when nothing is enrolled."""

    subject_id: str | None
    score: float


class EnrolledIndex:
    """Protected templates of one code space (tenant, template model, key version)."""

    def __init__(
        self,
        scheme: Scheme,
        capacity: int = 1024,
        cascade_from: int = CASCADE_FROM,
        radius: float = PREFIX_RADIUS,
        nibbles: bool = scan.NIBBLES,
        threads: int = CORES,
    ) -> None:
        self.scheme = scheme
        self.threads = threads  # the most threads one search may use (large galleries only)
        # The cascade needs whole 64-bit words and a prefix shorter than the code.
        words = scheme.code_bytes // 8
        self.cascade_from = cascade_from if scheme.code_bytes % 8 == 0 and words > scan.PREFIX_WORDS else None
        self.radius = int(radius * 64 * scan.PREFIX_WORDS)
        self._codes = np.zeros((capacity, scheme.code_bytes), dtype=np.uint8)
        self._prefix = scan.Prefixes(capacity, self.radius, nibbles) if self.cascade_from is not None else None
        self._subject_at: list[str] = []
        self._position: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._subject_at)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._position

    def add(self, subject_id: str, code: Codes) -> None:
        """Enroll (or re-enroll, replacing) one subject's protected template."""
        code = np.ascontiguousarray(code, dtype=np.uint8)
        if code.shape not in ((self.scheme.code_bytes,), (1, self.scheme.code_bytes)):
            raise ValueError(f"expected 1 code of {self.scheme.code_bytes} bytes")
        # One at a time, as the feeds apply enrollments (a restart loads a whole gallery so):
        # through add_many's array handling, applying one cost an eighth more.
        self._put(subject_id, code.reshape(-1))

    def add_many(self, subject_ids: list[str], codes: Codes) -> None:
        codes = np.ascontiguousarray(np.atleast_2d(np.asarray(codes, dtype=np.uint8)))
        if codes.shape != (len(subject_ids), self.scheme.code_bytes):
            raise ValueError(f"expected {len(subject_ids)} codes of {self.scheme.code_bytes} bytes")
        for subject_id, code in zip(subject_ids, codes, strict=True):
            self._put(subject_id, code)

    def _put(self, subject_id: str, code: Codes) -> None:
        where = self._position.get(subject_id)
        if where is None:
            where = len(self._subject_at)
            self._reserve(where + 1)
            self._subject_at.append(subject_id)
            self._position[subject_id] = where
        self._codes[where] = code
        if self._prefix is not None:
            self._prefix.put(where, code)

    def _reserve(self, size: int) -> None:
        if size > len(self._codes):
            capacity = max(size, len(self._codes) + len(self._codes) // 4 + 1)
            try:  # in place: the C library moves a large array's pages instead of copying them
                self._codes.resize((capacity, self.scheme.code_bytes))
            except ValueError:  # numpy refuses while a view of the codes is held: copy
                grown = np.zeros((capacity, self.scheme.code_bytes), np.uint8)
                grown[: len(self._subject_at)] = self._codes[: len(self._subject_at)]
                self._codes = grown
            if self._prefix is not None:
                self._prefix.grow(capacity)

    def remove(self, subject_id: str) -> bool:
        where = self._position.pop(subject_id, None)
        if where is None:
            return False
        last = len(self._subject_at) - 1
        moved = self._subject_at.pop()
        if where != last:  # fill the gap with the last row
            self._codes[where] = self._codes[last]
            self._subject_at[where] = moved
            self._position[moved] = where
            if self._prefix is not None:
                self._prefix.move(last, where)
        self._codes[last] = 0  # a removed template does not linger in memory
        if self._prefix is not None:
            self._prefix.clear(last)
        return True

    def remove_many(self, subject_ids: list[str]) -> int:
        return sum(self.remove(s) for s in subject_ids)

    def search(self, probes: Codes) -> list[Match]:
        """Best match of each probe code (one batch, one pass over the index)."""
        probes = np.ascontiguousarray(np.atleast_2d(probes), dtype=np.uint8)
        count = len(self._subject_at)
        if count == 0:
            return [Match(None, 0.0) for _ in range(len(probes))]
        if self._prefix is not None and self.cascade_from is not None and count >= self.cascade_from:
            # A pass over the prefixes costs at least what four probes' lookups do (1M enrolled:
            # 2.4 ms for one probe, 0.45 ms each for 64), so a pass for one probe over 1M is split
            # too: two threads halve its time (bench/PROFILES.md) for a thread's hand-off (~0.05 ms).
            threads = self.threads if count * max(len(probes), 4) >= PARALLEL_FROM else 1
            rows, found = self._prefix.cascade(self._codes.view(np.uint64), count, probes.view(np.uint64), threads)
            return [
                Match(self._subject_at[int(row)], float(score))
                for row, score in zip(rows, self.scheme.agreement(found), strict=True)
            ]
        # OpenMP threads pay off only on large galleries; on small ones their start-up and spinning
        # cost more than the search (profiled: 17% of a worker's time at 20 enrolled subjects).
        faiss.omp_set_num_threads(self.threads if count * len(probes) >= PARALLEL_FROM else 1)
        distances, rows = faiss.knn_hamming(probes, self._codes[:count], 1)
        scores = self.scheme.agreement(distances[:, 0])
        return [Match(self._subject_at[int(row)], float(score)) for row, score in zip(rows[:, 0], scores, strict=True)]
