"""The cascade's scan kernel: a 256-bit prefix of every enrolled code shortlists, the full code decides.

Compiled with numba (LLVM), so the prefix distance runs as SIMD popcount (vpopcntq where the CPU
has it) over a structure-of-arrays copy of the prefixes, one cache-sized block of the gallery at
a time for every probe of the batch. Only rows whose prefix distance is within the radius have
their full distance computed; per probe the row with the smallest prefix distance is kept too, so
a probe that shortlists nothing still gets its nearest candidate's full distance (a real, low
score, never a better one than exhaustive search would give).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, types
from numba.extending import intrinsic

PREFIX_WORDS = 4  # 256 bits
_BLOCK = 1024  # gallery rows per block: 32 KB of prefixes, reused by every probe of the batch
_CHUNK = 32  # rows whose minimum is checked before any of them is looked at closer
_NONE = 1 << 30

Words = npt.NDArray[np.uint64]


def _ctpop(typingctx: Any, x: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])  # LLVM's popcount: vpopcntq when vectorised on AVX-512

    return types.uint64(types.uint64), codegen


_popcount: Any = intrinsic(_ctpop)


def _cascade(
    prefix: Words, full: Words, count: int, probes: Words, radius: int, best_row: Any, best_distance: Any
) -> None:  # pragma: no cover - compiled
    words = full.shape[1]
    chunk = np.empty(_CHUNK, np.uint64)
    limit = np.uint64(radius)
    r0, r1, r2, r3 = prefix[0], prefix[1], prefix[2], prefix[3]
    nearest = np.full(probes.shape[0], _NONE, np.uint64)
    nearest_row = np.zeros(probes.shape[0], np.int64)
    for p in range(probes.shape[0]):
        best_row[p] = -1
        best_distance[p] = _NONE
    for start in range(0, count, _BLOCK):
        stop = min(count, start + _BLOCK)
        for p in range(probes.shape[0]):
            q0, q1, q2, q3 = probes[p, 0], probes[p, 1], probes[p, 2], probes[p, 3]
            for c in range(start, stop, _CHUNK):
                n = min(stop, c + _CHUNK) - c
                a0, a1, a2, a3 = r0[c : c + n], r1[c : c + n], r2[c : c + n], r3[c : c + n]
                low = np.uint64(_NONE)
                for i in range(n):
                    d = _popcount(a0[i] ^ q0) + _popcount(a1[i] ^ q1) + _popcount(a2[i] ^ q2) + _popcount(a3[i] ^ q3)
                    chunk[i] = d
                    low = min(low, d)
                if low < nearest[p]:
                    for i in range(n):
                        if chunk[i] == low:
                            nearest[p] = low
                            nearest_row[p] = c + i
                            break
                if low > limit:
                    continue
                for i in range(n):
                    if chunk[i] <= limit:
                        total = chunk[i]
                        for w in range(PREFIX_WORDS, words):
                            total += _popcount(full[c + i, w] ^ probes[p, w])
                        if total < best_distance[p]:
                            best_distance[p] = total
                            best_row[p] = c + i
    for p in range(probes.shape[0]):
        if best_row[p] < 0 and count > 0:  # nothing shortlisted: the nearest prefix decides
            row = nearest_row[p]
            total = nearest[p]
            for w in range(PREFIX_WORDS, words):
                total += _popcount(full[row, w] ^ probes[p, w])
            best_row[p] = row
            best_distance[p] = total


def _compiled(function: Any) -> Any:
    """Compiled at first use (seconds), cached beside the module or in the user's cache; where
    neither is writable (a read-only image without a home), compiled again in each process."""
    try:
        return njit(nogil=True, boundscheck=False, fastmath=True, cache=True)(function)
    except RuntimeError:
        return njit(nogil=True, boundscheck=False, fastmath=True)(function)


_cascade_compiled = _compiled(_cascade)


def cascade(
    prefix: Words, full: Words, count: int, probes: Words, radius: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Best row and its full Hamming distance per probe. `prefix` is (PREFIX_WORDS, capacity),
    the first words of each row of `full` (capacity, words); `probes` is (n, words)."""
    rows = np.empty(len(probes), np.int64)
    distances = np.empty(len(probes), np.int64)
    _cascade_compiled(prefix, full, count, np.ascontiguousarray(probes), radius, rows, distances)
    return rows, distances
