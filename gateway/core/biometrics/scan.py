"""The cascade's scan kernel: a 256-bit prefix of every enrolled code shortlists, the full code decides.

Compiled with numba (LLVM), so the prefix distance runs as SIMD popcount (vpopcntq where the CPU
has it) over a structure-of-arrays copy of the prefixes, one cache-sized block of the gallery at
a time for every probe of the batch (up to 64 probes at once). Only rows whose prefix distance
is within the radius have their full distance computed, row by row. A probe that shortlists
nothing gets the full distance of the row with its nearest prefix: a real, low score, never a
better one than exhaustive search would give.
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


def _cttz(typingctx: Any, x: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.cttz(args[0], context.get_constant(types.boolean, True))  # tzcnt; never called on 0

    return types.uint64(types.uint64), codegen


_popcount: Any = intrinsic(_ctpop)
_trailing_zeros: Any = intrinsic(_cttz)


def _cascade(
    prefix: Words, full: Words, count: int, probes: Words, radius: int, best_row: Any, best_distance: Any
) -> None:  # pragma: no cover - compiled
    words = full.shape[1]
    # Bit p of masks[i]: row i of the block is shortlisted for probe `first + p`. Full distances are
    # then taken row by row, so the block's full codes are read once, in order, whatever the number
    # of probes that shortlisted each (measured at 1M enrolled: half the time of taking them probe
    # by probe, which read each shortlisted row from memory at random).
    masks = np.zeros(_BLOCK, np.uint64)
    limit = np.uint64(radius)
    r0, r1, r2, r3 = prefix[0], prefix[1], prefix[2], prefix[3]
    for p in range(probes.shape[0]):
        best_row[p] = -1
        best_distance[p] = _NONE
    for first in range(0, probes.shape[0], 64):
        last = min(probes.shape[0], first + 64)
        for start in range(0, count, _BLOCK):
            n = min(count, start + _BLOCK) - start
            a0, a1, a2, a3 = r0[start : start + n], r1[start : start + n], r2[start : start + n], r3[start : start + n]
            masks[:n] = 0
            fours = first + (last - first) // 4 * 4
            for p in range(first, fours, 4):
                # Four probes per pass over the block: each row's prefix is loaded once for all four
                # and its mask updated once (1M enrolled: 0.85 -> 0.69 ms per probe).
                q0, q1, q2, q3 = probes[p, 0], probes[p, 1], probes[p, 2], probes[p, 3]
                s0, s1, s2, s3 = probes[p + 1, 0], probes[p + 1, 1], probes[p + 1, 2], probes[p + 1, 3]
                t0, t1, t2, t3 = probes[p + 2, 0], probes[p + 2, 1], probes[p + 2, 2], probes[p + 2, 3]
                u0, u1, u2, u3 = probes[p + 3, 0], probes[p + 3, 1], probes[p + 3, 2], probes[p + 3, 3]
                bit = np.uint64(p - first)
                for i in range(n):  # vectorised: sixteen popcounts per row, four bits per row
                    x0, x1, x2, x3 = a0[i], a1[i], a2[i], a3[i]
                    d0 = _popcount(x0 ^ q0) + _popcount(x1 ^ q1) + _popcount(x2 ^ q2) + _popcount(x3 ^ q3)
                    d1 = _popcount(x0 ^ s0) + _popcount(x1 ^ s1) + _popcount(x2 ^ s2) + _popcount(x3 ^ s3)
                    d2 = _popcount(x0 ^ t0) + _popcount(x1 ^ t1) + _popcount(x2 ^ t2) + _popcount(x3 ^ t3)
                    d3 = _popcount(x0 ^ u0) + _popcount(x1 ^ u1) + _popcount(x2 ^ u2) + _popcount(x3 ^ u3)
                    four = (
                        np.uint64(d0 <= limit)
                        | np.uint64(d1 <= limit) << np.uint64(1)
                        | np.uint64(d2 <= limit) << np.uint64(2)
                        | np.uint64(d3 <= limit) << np.uint64(3)
                    )
                    masks[i] |= four << bit
            for p in range(fours, last):  # the last one to three probes of the chunk
                q0, q1, q2, q3 = probes[p, 0], probes[p, 1], probes[p, 2], probes[p, 3]
                bit = np.uint64(p - first)
                for i in range(n):
                    d = _popcount(a0[i] ^ q0) + _popcount(a1[i] ^ q1) + _popcount(a2[i] ^ q2) + _popcount(a3[i] ^ q3)
                    masks[i] |= np.uint64(d <= limit) << bit
            for i in range(n):
                m = masks[i]
                while m != 0:
                    hit = first + int(_trailing_zeros(m))
                    m &= m - np.uint64(1)
                    total = np.uint64(0)
                    for w in range(words):
                        total += _popcount(full[start + i, w] ^ probes[hit, w])
                    if total < best_distance[hit]:
                        best_distance[hit] = total
                        best_row[hit] = start + i
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
