"""A tenant's enrolled protected templates and exact batched 1:N search over them.

Protected codes are bit strings, so search is an exhaustive Hamming search; faiss' binary
flat index does it with popcount over packed codes (one well-kept library rather than a
numpy loop, which was 20-40x slower here). Exact: the best match is never missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from gateway.core.biometrics.protection import Codes, Scheme


@dataclass(frozen=True)
class Match:
    """Best enrolled subject for one probe, or subject None when nothing is enrolled."""

    subject_id: str | None
    score: float


class EnrolledIndex:
    """Protected templates of one code space (tenant, template model, key version)."""

    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(scheme.bits))
        self._ids: dict[str, int] = {}
        self._subjects: dict[int, str] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._ids

    def add(self, subject_id: str, code: Codes) -> None:
        """Enroll (or re-enroll, replacing) one subject's protected template."""
        self.add_many([subject_id], np.atleast_2d(code))

    def add_many(self, subject_ids: list[str], codes: Codes) -> None:
        codes = np.ascontiguousarray(np.atleast_2d(codes), dtype=np.uint8)
        if codes.shape != (len(subject_ids), self.scheme.code_bytes):
            raise ValueError(f"expected {len(subject_ids)} codes of {self.scheme.code_bytes} bytes")
        replaced = [s for s in subject_ids if s in self._ids]
        if replaced:
            self.remove_many(replaced)
        ids = np.arange(self._next, self._next + len(subject_ids), dtype=np.int64)
        self._next += len(subject_ids)
        self._index.add_with_ids(codes, ids)
        for subject_id, internal in zip(subject_ids, ids.tolist(), strict=True):
            self._ids[subject_id] = internal
            self._subjects[internal] = subject_id

    def remove(self, subject_id: str) -> bool:
        return self.remove_many([subject_id]) == 1

    def remove_many(self, subject_ids: list[str]) -> int:
        internal = [self._ids.pop(s) for s in subject_ids if s in self._ids]
        for i in internal:
            del self._subjects[i]
        if internal:
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(internal, dtype=np.int64)))
        return len(internal)

    def search(self, probes: Codes) -> list[Match]:
        """Best match of each probe code (one batch, one pass over the index)."""
        probes = np.ascontiguousarray(np.atleast_2d(probes), dtype=np.uint8)
        if len(self._ids) == 0:
            return [Match(None, 0.0) for _ in range(len(probes))]
        distances, ids = self._index.search(probes, 1)
        scores = self.scheme.agreement(distances[:, 0])
        return [
            Match(self._subjects.get(int(i)), float(s)) if i >= 0 else Match(None, 0.0)
            for i, s in zip(ids[:, 0], scores, strict=True)
        ]
