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

import llvmlite.binding  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from numba import njit, types
from numba.core import config as _config
from numba.extending import intrinsic

config: Any = _config
if not config.CPU_FEATURES:  # NUMBA_CPU_FEATURES, when an operator sets it, wins
    _host = llvmlite.binding.get_host_cpu_features().flatten()
    if "+avx512f" in _host:
        # LLVM prefers 256-bit vectors on these CPUs; 512-bit ones scan the prefixes ~20% faster here.
        config.CPU_FEATURES = _host + ",-prefer-256-bit"

PREFIX_WORDS = 4  # 256 bits
_BLOCK = 1024  # gallery rows per block: 32 KB of prefixes, reused by every probe of the batch
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
    flags = np.zeros(_BLOCK, np.uint8)
    eights = flags.view(np.uint64)  # eight rows' flags at once: most are all zero
    limit = np.uint64(radius)
    r0, r1, r2, r3 = prefix[0], prefix[1], prefix[2], prefix[3]
    for p in range(probes.shape[0]):
        best_row[p] = -1
        best_distance[p] = _NONE
    for start in range(0, count, _BLOCK):
        stop = min(count, start + _BLOCK)
        a0, a1, a2, a3 = r0[start:stop], r1[start:stop], r2[start:stop], r3[start:stop]
        for p in range(probes.shape[0]):
            q0, q1, q2, q3 = probes[p, 0], probes[p, 1], probes[p, 2], probes[p, 3]
            for i in range(stop - start):  # vectorised: four popcounts per row, a flag per row
                d = _popcount(a0[i] ^ q0) + _popcount(a1[i] ^ q1) + _popcount(a2[i] ^ q2) + _popcount(a3[i] ^ q3)
                flags[i] = d <= limit
            for i in range(stop - start, _BLOCK):
                flags[i] = 0
            for e in range(_BLOCK // 8):
                if eights[e] == 0:
                    continue
                for i in range(8 * e, 8 * e + 8):
                    if flags[i]:
                        total = np.uint64(0)
                        for w in range(words):
                            total += _popcount(full[start + i, w] ^ probes[p, w])
                        if total < best_distance[p]:
                            best_distance[p] = total
                            best_row[p] = start + i
    for p in range(probes.shape[0]):
        if best_row[p] >= 0 or count == 0:
            continue
        # Nothing shortlisted (rare: a stranger far from everyone): the nearest prefix decides.
        nearest, row = np.uint64(_NONE), 0
        q0, q1, q2, q3 = probes[p, 0], probes[p, 1], probes[p, 2], probes[p, 3]
        for i in range(count):
            d = _popcount(r0[i] ^ q0) + _popcount(r1[i] ^ q1) + _popcount(r2[i] ^ q2) + _popcount(r3[i] ^ q3)
            if d < nearest:
                nearest, row = d, i
        total = np.uint64(0)
        for w in range(words):
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
