"""Benchmark: batched 1:N search over a tenant's enrolled protected templates.

For 1k, 100k and 1M enrolled synthetic people: time per event to protect and search a batch
of 64 captures, and bytes of resident memory per enrolled subject (RSS growth while the index
is built, divided by its size). Usage: python -m bench.matching [--sizes 1000,100000,1000000]
Writes bench/results/matching.json and matching.md. No assertion on time anywhere.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc
from typing import Any

import faiss
import numpy as np

from bench.results import rss_bytes, write_results
from gateway.core.biometrics.matching import EnrolledIndex
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.files.calibrations import shipped

BATCH = 64
CHUNK = 50_000


def measure(size: int, batches: int = 20, seed: int = 1) -> dict[str, Any]:
    calibration = shipped()["synthetic-512"]
    protector = calibration.protector(b"bench-key".ljust(32, b"\0"), 1)
    population = Population.create(SYNTHETIC_512, size, seed)
    # tracemalloc sees numpy buffers and Python objects, which is all the index holds;
    # RSS growth is reported beside it (it also counts freed-but-kept transient buffers).
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    index = EnrolledIndex(calibration.scheme)
    for start in range(0, size, CHUNK):
        people = np.arange(start, min(size, start + CHUNK))
        index.add_many([f"subject-{i:07d}" for i in people], protector.protect(population.captures(people, 0)))
    gc.collect()
    per_subject = (tracemalloc.get_traced_memory()[0] - traced_before) / size
    tracemalloc.stop()
    rss_per_subject = (rss_bytes() - rss_before) / size

    rng = np.random.default_rng(seed)
    protect_ms, search_ms, found = [], [], 0
    for b in range(batches):
        people = rng.integers(0, size, BATCH)
        faces = population.captures(people, 100 + b)
        t0 = time.perf_counter()
        codes = protector.protect(faces)
        t1 = time.perf_counter()
        matches = index.search(codes)
        t2 = time.perf_counter()
        protect_ms.append((t1 - t0) * 1000 / BATCH)
        search_ms.append((t2 - t1) * 1000 / BATCH)
        found += sum(
            m.subject_id == f"subject-{p:07d}" and m.score > calibration.thresholds.clean
            for m, p in zip(matches, people, strict=True)
        )
    return {
        "enrolled": size,
        "batch": BATCH,
        "protect_ms_per_event": statistics.median(protect_ms),
        "search_ms_per_event": statistics.median(search_ms),
        "total_ms_per_event": statistics.median(p + s for p, s in zip(protect_ms, search_ms, strict=True)),
        "bytes_per_enrolled_subject": per_subject,
        "rss_growth_per_enrolled_subject": rss_per_subject,
        "code_bytes": calibration.scheme.code_bytes,
        "identified_share": found / (batches * BATCH),
        "faiss_threads": faiss.omp_get_max_threads(),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# 1:N search over protected templates (synthetic-512, IoM 1024 x q=2, batches of {BATCH})",
        "",
        "| enrolled | protect ms/event | search ms/event | total ms/event | bytes/subject "
        "| RSS growth/subject | identified |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['enrolled']:,} | {r['protect_ms_per_event']:.3f} | {r['search_ms_per_event']:.3f} | "
            f"{r['total_ms_per_event']:.3f} | {r['bytes_per_enrolled_subject']:.0f} | "
            f"{r['rss_growth_per_enrolled_subject']:.0f} | {100 * r['identified_share']:.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, args.batches))
        print(json.dumps(rows[-1]), flush=True)
    write_results("matching", rows, markdown(rows))


if __name__ == "__main__":
    main()
