"""The cascade's scan kernels: a 256-bit prefix of every enrolled code shortlists, the full code decides.

Compiled with numba (LLVM). The prefixes are held in the layout of the kernel the CPU runs best:

- with AVX-512 VPOPCNTDQ (or without AVX2), one 64-bit column per prefix word: LLVM vectorises
  the distance as popcounts of four rows' words at once (vpopcntq where the CPU has it);
- with AVX2 but no VPOPCNTDQ, blocks of 32 rows with each prefix byte's 32 values side by side.
  The probe's bits go into lookup tables instead of an XOR: for every byte position a 16-entry
  table per nibble holds the distance from each possible nibble to the probe's, so one vpshufb
  gives the distance of 32 rows' nibbles, summed in saturating bytes; each byte's nibbles are
  split once for eight probes. Measured at 1M enrolled on an AVX2 host: the prefix pass
  0.97-1.04 -> 0.58-0.70 ms per probe, where LLVM's own popcount (a nibble lookup too) took nine
  instructions per row and probe (bench/PROFILES.md). AVX-512 CPUs without VPOPCNTDQ run this
  kernel too; it has not been measured on one.

Either kernel scans one cache-sized block of the gallery at a time for every probe of the batch
(up to 64 probes at once). Only rows whose prefix distance is within the radius have their full
distance computed, row by row. A probe that shortlists nothing gets the full distance of the row
with its nearest prefix: a real, low score, never a better one than exhaustive search would give.
Both kernels compute the same prefix distances, so they return the same matches (tested).

A search may split the rows into runs of whole blocks, one thread each (the kernels release the
interpreter lock): every run keeps its own best row per probe, and a later run's replaces an
earlier's only when strictly nearer, so the match is the one a single scan returns (tested).

A paced worker searches small batches, where a pass over every prefix is paid for a few probes:
the lookup kernel serves a batch's last probes with a lookup of 1, 2 or 4 probes rather than a
group of eight padded, and a chunk of at most 16 probes (whose shortlisted rows lie scattered, a
few in a hundred) asks for those rows' codes before walking them, so their memory reads overlap.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import llvmlite.binding  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit, types
from numba.core import config as _config
from numba.extending import intrinsic

config: Any = _config
_HOST = llvmlite.binding.get_host_cpu_features()


def _target(feature: str) -> bool:
    """Whether the code numba compiles may use `feature`: the host's, unless an operator chose the
    target. NUMBA_CPU_FEATURES names the features; with NUMBA_CPU_NAME alone (e.g. `generic`, for
    a cache shared by several CPUs) the lookup kernel is not used, whatever that CPU has."""
    if config.CPU_FEATURES:
        return f"+{feature}" in config.CPU_FEATURES.split(",")
    return not config.CPU_NAME and bool(_HOST.get(feature))


AVX2 = _target("avx2")
NIBBLES = AVX2 and not _target("avx512vpopcntdq")  # the kernel this host runs
# NUMBA_CPU_FEATURES, when an operator sets it, wins. LLVM prefers 256-bit vectors on AVX-512
# CPUs; 512-bit ones scan the prefixes ~20% faster there.
if not config.CPU_FEATURES and not config.CPU_NAME and _HOST.get("avx512f"):
    config.CPU_FEATURES = _HOST.flatten() + ",-prefer-256-bit"

PREFIX_WORDS = 4  # 256 bits
PREFIX_BYTES = 8 * PREFIX_WORDS
ROWS = 32  # rows per block of the nibble layout: one AVX2 register of bytes
_BLOCK = 32 * ROWS  # gallery rows per block: 32 KB of prefixes, reused by every probe of the batch
_CHUNK = 64  # probes scanned together: one bit each in a row's 64-bit mask
_NONE = 1 << 30
_GROUP = 8  # probes per call of the nibble kernel: one bit each in a row's byte
_SPARSE = 16  # at most this many probes in a chunk: the shortlisted rows' codes are prefetched
_TABLES = PREFIX_BYTES * 2 * ROWS  # bytes of lookup tables per probe

Words = npt.NDArray[np.uint64]
Bytes = npt.NDArray[np.uint8]


def _ctpop(typingctx: Any, x: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])  # LLVM's popcount: vpopcntq when vectorised on AVX-512

    return types.uint64(types.uint64), codegen


def _cttz(typingctx: Any, x: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.cttz(args[0], context.get_constant(types.boolean, True))  # tzcnt; never called on 0

    return types.uint64(types.uint64), codegen


def _lookup_block(group: int) -> Any:
    """An intrinsic: `group` probes (1, 2, 4 or 8) against one block of 32 rows (AVX2). It writes
    one byte per row whose bit k says that probe k's prefix distance is within `limit`. Offsets are
    in bytes of the flat uint8 arrays. A batch's last probes take the smallest group that holds
    them: a lookup costs the same whether its probe is real or padding (1M enrolled, one probe:
    ~9 -> ~5 ms per pass)."""

    def typer(  # noqa: PLR0913 - an intrinsic takes its arguments flat
        typingctx: Any, planes: Any, at: Any, tables: Any, table_at: Any, limit: Any, out: Any, out_at: Any
    ) -> Any:
        arrays, offsets = (planes, tables, out), (at, table_at, out_at, limit)
        if not all(isinstance(a, types.Array) and a.dtype == types.uint8 and a.ndim == 1 for a in arrays):
            return None  # any other array would scale the offsets
        if not all(o == types.int64 for o in offsets):  # numba's integers in the kernels
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            byte, i32 = ir.IntType(8), ir.IntType(32)
            vector = ir.VectorType(byte, ROWS)

            def pointer(n: int) -> Any:  # the array's data at a byte offset, as 32-byte vectors
                data = context.make_array(signature.args[n])(context, builder, args[n]).data
                return builder.bitcast(builder.gep(data, [args[n + 1]]), vector.as_pointer())

            def splat(value: int) -> Any:
                return ir.Constant(vector, [value] * ROWS)

            def load(base: Any, n: int) -> Any:
                return builder.load(builder.gep(base, [ir.Constant(i32, n)]), align=1)

            binary = ir.FunctionType(vector, [vector, vector])

            def declared(name: str) -> Any:
                return builder.module.globals.get(name) or ir.Function(builder.module, binary, name)

            shuffle, add = declared("llvm.x86.avx2.pshuf.b"), declared("llvm.uadd.sat.v32i8")
            planes_at, tables_at, out_ptr = pointer(0), pointer(2), pointer(5)
            sums = [splat(0)] * group
            for j in range(PREFIX_BYTES):
                values = load(planes_at, j)  # byte j of 32 rows
                low, high = builder.and_(values, splat(0x0F)), builder.lshr(values, splat(4))
                for p in range(group):
                    low_table, high_table = (
                        load(tables_at, (p * PREFIX_BYTES + j) * 2),
                        load(tables_at, (p * PREFIX_BYTES + j) * 2 + 1),
                    )
                    sums[p] = builder.call(add, [sums[p], builder.call(shuffle, [low_table, low])])
                    sums[p] = builder.call(add, [sums[p], builder.call(shuffle, [high_table, high])])
            bound = builder.insert_element(
                ir.Constant(vector, ir.Undefined), builder.trunc(args[4], byte), ir.Constant(i32, 0)
            )
            bound = builder.shuffle_vector(
                bound, ir.Constant(vector, ir.Undefined), ir.Constant(ir.VectorType(i32, ROWS), [0] * ROWS)
            )
            hits = splat(0)
            for p, total in enumerate(sums):
                within = builder.zext(builder.icmp_unsigned("<=", total, bound), vector)
                hits = builder.or_(hits, builder.shl(within, splat(p)))
            builder.store(hits, out_ptr, align=1)
            return context.get_dummy_value()

        return types.void(planes, at, tables, table_at, limit, out, out_at), codegen

    typer.__name__ = typer.__qualname__ = f"_lookup_{group}"
    return intrinsic(typer)


def _fetch(typingctx: Any, array: Any, at: Any) -> Any:
    """Asks the CPU to fetch the cache line holding element `at` of a C-contiguous array (a hint:
    never faults, changes nothing)."""
    if not (isinstance(array, types.Array) and array.layout == "C" and at == types.int64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        byte_pointer, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_pointer)
        name = "llvm.prefetch.p0i8"
        declared = builder.module.globals.get(name) or ir.Function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), name
        )
        # a read, kept in every cache level, of data
        builder.call(declared, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, at), codegen


_popcount: Any = intrinsic(_ctpop)
_trailing_zeros: Any = intrinsic(_cttz)
_lookup1, _lookup2, _lookup4, _lookup8 = (_lookup_block(g) for g in (1, 2, 4, _GROUP))
_prefetch: Any = intrinsic(_fetch)


def _compiled(function: Any) -> Any:
    """Compiled at first use (seconds), cached beside the module or in the user's cache; where
    neither is writable (a read-only image without a home), compiled again in each process."""
    try:
        return njit(nogil=True, boundscheck=False, fastmath=True, cache=True)(function)
    except RuntimeError:
        return njit(nogil=True, boundscheck=False, fastmath=True)(function)


@_compiled
def _start(best_row: Any, best_distance: Any) -> None:  # pragma: no cover - compiled
    for p in range(len(best_row)):
        best_row[p] = -1
        best_distance[p] = _NONE


@njit(inline="always")  # inlined into the kernel: as a call per 32 rows it cost 64-probe batches ~15%
def _lookup(  # noqa: PLR0913 - compiled kernels take arrays flat
    size: int, planes: Bytes, at: int, tables: Bytes, table_at: int, radius: int, out: Bytes, out_at: int
) -> None:  # pragma: no cover - compiled
    # `size` probes (1-8) against one block of 32 rows, by the smallest lookup that holds them.
    if size > 4:
        _lookup8(planes, at, tables, table_at, radius, out, out_at)
    elif size > 2:
        _lookup4(planes, at, tables, table_at, radius, out, out_at)
    elif size == 2:
        _lookup2(planes, at, tables, table_at, radius, out, out_at)
    else:
        _lookup1(planes, at, tables, table_at, radius, out, out_at)


@_compiled
def _decide(  # noqa: PLR0913 - compiled kernels take arrays flat
    masks: Words,
    n: int,
    start: int,
    first: int,
    full: Words,
    probes: Words,
    best_row: Any,
    best_distance: Any,
    sparse: bool,
) -> None:  # pragma: no cover - compiled
    # Bit p of masks[i]: row `start + i` is shortlisted for probe `first + p`. Full distances are
    # taken row by row, so the block's full codes are read once, in order, whatever the number
    # of probes that shortlisted each (measured at 1M enrolled: half the time of taking them probe
    # by probe, which read each shortlisted row from memory at random).
    words = full.shape[1]
    if sparse:
        # Few probes shortlist a few rows in a hundred, scattered: the CPU's own prefetcher sees no
        # stream, and the walk below would wait for each row's memory in turn. Asking for them all
        # first overlaps the waits (1M enrolled, 4-16 probes: 15-35% less per batch; at 64 probes,
        # where most rows are read, it gained nothing).
        for i in range(n):
            if masks[i] != 0:
                at = (start + i) * words
                for w in range(0, words, 8):  # each 64-byte line of the row, and its last word's
                    _prefetch(full, at + w)
                _prefetch(full, at + words - 1)
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


@_compiled
def _nearest_prefix(
    full: Words, count: int, probes: Words, best_row: Any, best_distance: Any
) -> None:  # pragma: no cover - compiled
    # Nothing shortlisted (rare: a stranger far from everyone): the nearest prefix decides, read
    # from the full codes (their first words), the same in either layout.
    words = full.shape[1]
    for p in range(probes.shape[0]):
        if best_row[p] >= 0 or count == 0:
            continue
        nearest, row = np.uint64(_NONE), 0
        q0, q1, q2, q3 = probes[p, 0], probes[p, 1], probes[p, 2], probes[p, 3]
        for i in range(count):
            d = (
                _popcount(full[i, 0] ^ q0)
                + _popcount(full[i, 1] ^ q1)
                + _popcount(full[i, 2] ^ q2)
                + _popcount(full[i, 3] ^ q3)
            )
            if d < nearest:
                nearest, row = d, i
        total = np.uint64(0)
        for w in range(words):
            total += _popcount(full[row, w] ^ probes[p, w])
        best_row[p] = row
        best_distance[p] = total


def _cascade_columns(  # noqa: PLR0913 - compiled kernels take arrays flat
    prefix: Words, full: Words, begin: int, count: int, probes: Words, radius: int, best_row: Any, best_distance: Any
) -> None:  # pragma: no cover - compiled
    masks = np.zeros(_BLOCK, np.uint64)
    limit = np.uint64(radius)
    r0, r1, r2, r3 = prefix[0], prefix[1], prefix[2], prefix[3]
    _start(best_row, best_distance)
    for first in range(0, probes.shape[0], _CHUNK):
        last = min(probes.shape[0], first + _CHUNK)
        for start in range(begin, count, _BLOCK):
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
            _decide(masks, n, start, first, full, probes, best_row, best_distance, last - first <= _SPARSE)


def _cascade_nibbles(  # noqa: PLR0913 - compiled kernels take arrays flat
    planes: Bytes,
    tables: Bytes,
    full: Words,
    begin: int,
    count: int,
    probes: Words,
    radius: int,
    best_row: Any,
    best_distance: Any,
) -> None:  # pragma: no cover - compiled
    # hits[g * _BLOCK + i]: bit k says row `start + i` is shortlisted for probe `first + 8g + k`.
    hits = np.zeros(_GROUP * _BLOCK, np.uint8)
    masks = np.zeros(_BLOCK, np.uint64)
    _start(best_row, best_distance)
    for first in range(0, probes.shape[0], _CHUNK):
        chunk = min(probes.shape[0], first + _CHUNK) - first
        groups = (chunk + _GROUP - 1) // _GROUP
        for start in range(begin, count, _BLOCK):
            n = min(count, start + _BLOCK) - start
            for g in range(groups):
                size = min(_GROUP, chunk - g * _GROUP)  # probes of this group; the rest are padding
                at = (first + g * _GROUP) * _TABLES
                for b in range(0, n, ROWS):
                    _lookup(size, planes, (start + b) * PREFIX_BYTES, tables, at, radius, hits, g * _BLOCK + b)
            masks[:n] = 0
            for g in range(groups):
                shift = np.uint64(_GROUP * g)
                for i in range(n):  # rows past `count` in the last block were scanned, never merged
                    masks[i] |= np.uint64(hits[g * _BLOCK + i]) << shift
            _decide(masks, n, start, first, full, probes, best_row, best_distance, chunk <= _SPARSE)


_cascade_columns_compiled = _compiled(_cascade_columns)
_cascade_nibbles_compiled = _compiled(_cascade_nibbles)
_NIBBLE_BITS = np.array([bin(v).count("1") for v in range(16)], np.uint8)


def _tables(probes: Bytes) -> Bytes:
    """Per probe and prefix byte, the distance from every nibble value to the probe's low and high
    nibble (16 entries, twice: one per 128-bit lane). Padded to whole groups with 255s, which no
    row is ever within."""
    padded = -(-len(probes) // _GROUP) * _GROUP
    tables = np.full((padded, PREFIX_BYTES, 2, 2, 16), 255, np.uint8)
    values = np.arange(16, dtype=np.uint8)
    prefix = probes[:, :PREFIX_BYTES, None]
    tables[: len(probes), :, 0] = _NIBBLE_BITS[values ^ (prefix & 0x0F)][:, :, None]
    tables[: len(probes), :, 1] = _NIBBLE_BITS[values ^ (prefix >> 4)][:, :, None]
    return tables.reshape(-1)


class Prefixes:
    """The 256-bit prefixes of an index's codes (row i: the first PREFIX_BYTES of code i), held in
    the layout of the kernel that scans them: 64-bit columns, or (`nibbles`, AVX2) blocks of 32
    rows with each byte's 32 values side by side. `radius`: the most prefix bits that may disagree
    for a full comparison."""

    def __init__(self, capacity: int, radius: int, nibbles: bool = NIBBLES) -> None:
        if nibbles and not AVX2:
            raise ValueError("the nibble-lookup kernel needs AVX2 (the CPU's, or NUMBA_CPU_FEATURES')")
        most = 254 if nibbles else 64 * PREFIX_WORDS  # the lookup kernel's sums saturate at 255
        if not 0 <= radius <= most:
            raise ValueError(f"a prefix radius of {radius} bits is outside 0-{most}")
        self.radius, self.nibbles = radius, nibbles
        self._data: Bytes | Words = self._empty(capacity)

    def _empty(self, capacity: int) -> Bytes | Words:
        if self.nibbles:
            return np.zeros((-(-capacity // ROWS), PREFIX_BYTES, ROWS), np.uint8)
        return np.zeros((PREFIX_WORDS, capacity), np.uint64)

    def grow(self, capacity: int) -> None:
        if self.nibbles:  # blocks of rows grow along the first axis: in place, as EnrolledIndex's codes
            try:
                self._data.resize((-(-capacity // ROWS), PREFIX_BYTES, ROWS))
                return
            except ValueError:  # a view of the prefixes is held: copy
                pass
        grown = self._empty(capacity)
        if self.nibbles:
            grown[: len(self._data)] = self._data
        else:
            grown[:, : self._data.shape[1]] = self._data
        self._data = grown

    def put(self, row: int, code: Bytes) -> None:
        if self.nibbles:
            self._data[row // ROWS, :, row % ROWS] = code[:PREFIX_BYTES]
        else:
            self._data[:, row] = code[:PREFIX_BYTES].view(np.uint64)

    def move(self, source: int, target: int) -> None:
        """Row `target` takes row `source`'s prefix (which `source` keeps until cleared)."""
        if self.nibbles:
            self._data[target // ROWS, :, target % ROWS] = self._data[source // ROWS, :, source % ROWS]
        else:
            self._data[:, target] = self._data[:, source]

    def clear(self, row: int) -> None:
        self.put(row, np.zeros(PREFIX_BYTES, np.uint8))

    def cascade(
        self, full: Words, count: int, probes: Words, threads: int = 1
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Best row and its full Hamming distance per probe: `full` is (capacity, words), whose
        first PREFIX_WORDS words of each row are its prefix; `probes` is (n, words). With `threads`
        above 1 the rows are split into that many runs of whole blocks, each scanned by a thread of
        its own (the kernels release the interpreter lock), the calling thread taking the first."""
        probes = np.ascontiguousarray(probes)
        tables = _tables(probes.view(np.uint8)) if self.nibbles else None
        blocks = -(-count // _BLOCK)
        parts = max(1, min(threads, blocks))
        bounds = [min(count, blocks * k // parts * _BLOCK) for k in range(parts + 1)]
        found = [(np.empty(len(probes), np.int64), np.empty(len(probes), np.int64)) for _ in bounds[1:]]

        def run(k: int) -> None:
            rows, distances = found[k]
            if self.nibbles:
                flat = self._data.reshape(-1)
                _cascade_nibbles_compiled(
                    flat, tables, full, bounds[k], bounds[k + 1], probes, self.radius, rows, distances
                )
            else:
                _cascade_columns_compiled(
                    self._data, full, bounds[k], bounds[k + 1], probes, self.radius, rows, distances
                )

        # One pool per thread count (an index's is fixed), not per split: a gallery that grows
        # would otherwise leave a pool behind at each size.
        others = [_pool(threads - 1).submit(run, k) for k in range(1, parts)] if parts > 1 else []
        try:
            run(0)
        finally:  # no run outlives the search, even a failed one: they read the index's arrays
            for other in others:
                other.result()
        rows, distances = found[0]
        for more_rows, more_distances in found[1:]:  # a later run wins only when strictly nearer, as in one scan
            nearer = more_distances < distances
            rows[nearer], distances[nearer] = more_rows[nearer], more_distances[nearer]
        _nearest_prefix(full, count, probes, rows, distances)
        return rows, distances


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """Threads for a search's other runs, all at once (the executor's default stops at 32: on a
    larger node, runs past it would wait for the first ones)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facegate-scan")
