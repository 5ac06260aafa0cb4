"""Benchmark: batched 1:N search over a tenant's enrolled protected templates, on one core.

For 1k, 100k and 1M enrolled synthetic people: time per capture to protect and search a batch
of 64 captures with the index as the worker runs it (exhaustive below CASCADE_FROM enrolled, the
prefix cascade above), beside exhaustive search (faiss, one thread) over the same gallery; the
share of genuine probes identified at the operating threshold (the packs' FAR 1e-4 spread over
the gallery) whose best match is exhaustive search's (recall), and false accepts of never-enrolled
probes with each; bytes of memory per enrolled subject; and the search time of a batch of one and
of eight captures (what a paced worker's batches hold per tenant). Search times are the CPU seconds of the
thread that searches (the kernel and faiss run in it), wall seconds beside them; BLAS is held to
one thread (as `gateway` does for the worker), whose spinning threads had shared the core. Usage:
    python -m bench.matching [--sizes 1000,100000,1000000] [--batches 100] [--stranger-batches 470]
The defaults give each level ~6,400 genuine probes (at 1M about half identified: enough to show recall
>= 99.9% at 95% confidence when none is missed) and 30,080 never-enrolled ones (enough to show a
false-accept rate <= 1e-4, the packs' target, when none is accepted); the bounds are printed beside
the counts.
Writes bench/results/matching.json and matching.md. No assertion on time anywhere.
"""

from __future__ import annotations

# isort: off
import gateway  # noqa: F401  (first: it holds OpenBLAS to one thread, read when numpy loads)

# isort: on
import argparse
import gc
import json
import math
import statistics
import time
import tracemalloc
from typing import Any

import faiss
import llvmlite.binding  # type: ignore[import-untyped]
import numpy as np

from bench.results import rss_bytes, write_results
from gateway.core.biometrics import scan
from gateway.core.biometrics.matching import CASCADE_FROM, PREFIX_RADIUS, EnrolledIndex, Match
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.files.calibrations import shipped

BATCH = 64
SMALL_BATCHES = (1, 8)  # what a paced worker searches per tenant: one capture, or a few
CHUNK = 50_000  # people per synthetic population: a million people never sit in memory at once
PACK_FAR = 1e-4


def vector_units() -> str:
    """The CPU as LLVM sees it, its vector units, and the cascade kernel that runs on it: 64-bit
    popcounts (one instruction for eight words with AVX-512 VPOPCNTDQ) or, with AVX2 but no
    VPOPCNTDQ, nibble lookups (gateway.core.biometrics.scan)."""
    features = llvmlite.binding.get_host_cpu_features()
    units = [u for u in ("avx512vpopcntdq", "avx512f", "avx2") if features.get(u)]
    kernel = "nibble-lookup kernel" if scan.NIBBLES else "popcount kernel"
    return f"{llvmlite.binding.get_host_cpu_name()}: {', '.join(units) or 'no AVX2'}; {kernel}"


def upper_bound(failures: int, trials: int, confidence: float = 0.95) -> float:
    """The exact (Clopper-Pearson) one-sided upper bound on a rate seen `failures` times in
    `trials`: the largest rate under which so few would be seen with probability 1 - confidence.
    With none seen it is 1 - (1 - confidence)^(1/trials), about 3/trials at 95%."""
    if failures >= trials:
        return 1.0

    def at_most(p: float) -> float:  # P(X <= failures) for X ~ Binomial(trials, p)
        return sum(
            math.exp(
                math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)
                + k * math.log(p) + (trials - k) * math.log1p(-p)
            )
            for k in range(failures + 1)
        )  # fmt: skip

    low, high = failures / trials, 1.0
    for _ in range(100):  # bisection: at_most falls as p rises
        mid = (low + high) / 2
        low, high = (mid, high) if at_most(mid) > 1 - confidence else (low, mid)
    return high


def _exhaustive(index: EnrolledIndex, codes: np.ndarray, probes: np.ndarray) -> list[Match]:
    distances, rows = faiss.knn_hamming(probes, codes, 1)
    scores = index.scheme.agreement(distances[:, 0])
    return [Match(f"subject-{int(r):07d}", float(s)) for r, s in zip(rows[:, 0], scores, strict=True)]


def _faces(populations: list[Population], people: np.ndarray, session: int) -> np.ndarray:
    """One capture of each of `people` (indices across the chunked populations) in `session`."""
    return np.concatenate([populations[p // CHUNK].captures([p % CHUNK], session) for p in people])


def measure(size: int, batches: int = 20, seed: int = 1, impostor_batches: int | None = None) -> dict[str, Any]:
    faiss.omp_set_num_threads(1)  # one core, as the goal is stated
    calibration = shipped()[SYNTHETIC_512.name]
    protector = calibration.protector(b"bench-key".ljust(32, b"\0"), 1)
    threshold = calibration.threshold(False, PACK_FAR / size)
    populations = [
        Population.create(SYNTHETIC_512, min(CHUNK, size - s), seed * 1000 + s // CHUNK) for s in range(0, size, CHUNK)
    ]
    strangers = Population.create(SYNTHETIC_512, BATCH * (impostor_batches or batches), seed * 1000 + 999)
    # tracemalloc sees numpy buffers and Python objects, which is all the index holds;
    # RSS growth is reported beside it (it also counts freed-but-kept transient buffers).
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    index = EnrolledIndex(calibration.scheme, threads=1)  # one core, as the goal is stated
    for n, population in enumerate(populations):
        people = np.arange(len(population.identities))
        index.add_many(
            [f"subject-{n * CHUNK + i:07d}" for i in people], protector.protect(population.captures(people, 0))
        )
    gc.collect()
    per_subject = (tracemalloc.get_traced_memory()[0] - traced_before) / size
    tracemalloc.stop()
    rss_per_subject = (rss_bytes() - rss_before) / size
    codes = index._codes[:size]  # the same rows, for the exhaustive comparison

    rng = np.random.default_rng(seed)
    index.search(np.zeros((1, calibration.scheme.code_bytes), np.uint8))  # compile once, outside the timing
    protect_ms, search_ms, search_wall_ms, exhaustive_ms = [], [], [], []
    identified = same = genuine = exact_identified = 0
    for b in range(batches):
        people = rng.integers(0, size, BATCH)
        faces = _faces(populations, people, 100 + b)
        t0 = time.process_time()
        probes = protector.protect(faces)
        protected = time.process_time()
        t1, w1 = time.thread_time(), time.perf_counter()
        matches = index.search(probes)
        t2, w2 = time.thread_time(), time.perf_counter()
        exact = _exhaustive(index, codes, probes)
        t3 = time.thread_time()
        protect_ms.append((protected - t0) * 1000 / BATCH)
        search_ms.append((t2 - t1) * 1000 / BATCH)
        search_wall_ms.append((w2 - w1) * 1000 / BATCH)
        exhaustive_ms.append((t3 - t2) * 1000 / BATCH)
        for m, e, p in zip(matches, exact, people, strict=True):
            genuine += 1
            identified += m.subject_id == f"subject-{p:07d}" and m.score > threshold
            if e.score > threshold:  # identified by exhaustive search at the operating threshold
                exact_identified += 1
                same += m.subject_id == e.subject_id and m.score == e.score
    small: dict[str, float] = {}
    for k in SMALL_BATCHES:  # a batch's fixed cost: one pass over every prefix, however few its probes
        times = []
        for b in range(batches):
            people = rng.integers(0, size, k)
            probes = protector.protect(_faces(populations, people, 200 + b))
            t1 = time.thread_time()
            index.search(probes)
            times.append((time.thread_time() - t1) * 1000)
        small[str(k)] = statistics.median(times)
    accepts = {"index": 0, "exhaustive": 0}
    impostors = 0
    for b in range(impostor_batches or batches):
        probes = protector.protect(strangers.captures(np.arange(b * BATCH, (b + 1) * BATCH), 1))
        impostors += BATCH
        accepts["index"] += sum(m.score > threshold for m in index.search(probes))
        accepts["exhaustive"] += sum(e.score > threshold for e in _exhaustive(index, codes, probes))
    return {
        "enrolled": size,
        "batch": BATCH,
        "method": "cascade" if size >= CASCADE_FROM else "exhaustive",
        "prefix_radius": PREFIX_RADIUS,
        "operating_threshold": threshold,
        "protect_ms_per_event": statistics.median(protect_ms),
        "search_ms_per_event": statistics.median(search_ms),
        "search_wall_ms_per_event": statistics.median(search_wall_ms),
        "exhaustive_ms_per_event": statistics.median(exhaustive_ms),
        "search_ms_per_small_batch": small,
        "total_ms_per_event": statistics.median(p + s for p, s in zip(protect_ms, search_ms, strict=True)),
        "bytes_per_enrolled_subject": per_subject,
        "rss_growth_per_enrolled_subject": rss_per_subject,
        "code_bytes": calibration.scheme.code_bytes,
        "genuine_probes": genuine,
        "identified_share": identified / genuine,
        "exhaustive_identified": exact_identified,
        "recall_vs_exhaustive": same / max(1, exact_identified),
        # What the counts can show, at 95% confidence: recall at least, false-accept rates at most.
        "recall_at_least": 1 - upper_bound(exact_identified - same, max(1, exact_identified)),
        "impostor_probes": impostors,
        "false_accepts": accepts,
        "false_accept_rate_at_most": {k: upper_bound(v, impostors) for k, v in accepts.items()},
        "false_accept_target": PACK_FAR,
        "threads": 1,
        "cpu": vector_units(),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# 1:N search over protected templates (synthetic-512, IoM 1024 x q=2, batches of {BATCH}, one thread)",
        "",
        f"Index: exhaustive below {CASCADE_FROM:,} enrolled, above it the cascade (256-bit prefix, full "
        f"comparison where at most {PREFIX_RADIUS:.2%} of the prefix disagrees). Times are CPU ms per "
        "capture (median over batches): the process's for protecting, the searching thread's for searching "
        f"(wall beside it); and ms per batch of {' and '.join(map(str, SMALL_BATCHES))} captures. Recall: genuine probes that "
        "exhaustive search identifies at the operating threshold for which the index returns the same best "
        "match. False accepts: never-enrolled probes scoring above the threshold (the index compares in full "
        "every candidate it keeps, so its best score is never above exhaustive search's: its false accepts "
        "are never more). Bounds: what the counts show at 95% confidence (exact binomial): recall at least, "
        f"the false-accept rate per capture at most, against the packs' target of {PACK_FAR:g} over the gallery.",
        "",
        f"CPU (LLVM's name and vector units): {rows[0].get('cpu', 'not recorded') if rows else vector_units()}.",
        "",
        "| enrolled | method | protect ms | search ms (wall) | exhaustive ms "
        f"| search ms per batch of {' / '.join(map(str, SMALL_BATCHES))} | bytes/subject | RSS growth/subject "
        "| identified | recall vs exhaustive (at least) | false accepts index / exhaustive (rate at most) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fa = r["false_accepts"]
        per_batch = r.get("search_ms_per_small_batch", {})  # absent from results older than the column
        small = " / ".join(f"{per_batch[str(k)]:.2f}" if str(k) in per_batch else "-" for k in SMALL_BATCHES)
        lines.append(
            f"| {r['enrolled']:,} | {r['method']} | {r['protect_ms_per_event']:.3f} | {r['search_ms_per_event']:.3f} "
            f"({r['search_wall_ms_per_event']:.3f}) | {r['exhaustive_ms_per_event']:.3f} | {small} | "
            f"{r['bytes_per_enrolled_subject']:.0f} | "
            f"{r['rss_growth_per_enrolled_subject']:.0f} | {100 * r['identified_share']:.1f}% | "
            f"{100 * r['recall_vs_exhaustive']:.2f}% of {r['exhaustive_identified']:,}{_at_least(r)} | "
            f"{fa['index']} / {fa['exhaustive']} of {r['impostor_probes']:,}{_at_most(r)} |"
        )
    return "\n".join(lines) + "\n"


def _at_least(row: dict[str, Any]) -> str:
    return f" (>= {100 * row['recall_at_least']:.2f}%)" if "recall_at_least" in row else ""  # older results lack it


def _at_most(row: dict[str, Any]) -> str:
    bound = row.get("false_accept_rate_at_most")
    return f" (<= {bound['index']:.1e} / {bound['exhaustive']:.1e})" if bound else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--batches", type=int, default=100, help=f"batches of {BATCH} genuine probes")
    parser.add_argument("--stranger-batches", type=int, default=470, help=f"batches of {BATCH} never-enrolled probes")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, args.batches, impostor_batches=args.stranger_batches))
        print(json.dumps(rows[-1]), flush=True)
    write_results("matching", rows, markdown(rows))


if __name__ == "__main__":
    main()
