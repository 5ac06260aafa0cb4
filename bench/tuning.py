"""Benchmark: the worker's client settings and batch sizes, measured in one run on one broker.

    python -m bench.tuning [--events 20000] [--bootstrap host:port] [--profile]

The same captures (the scenario's decision mix, 20 enrolled per tenant) are decided by a fresh
FaceGate worker under each variant of its settings, beside (b') the tuned Faust forwarder on the
same records: decisions/s, the ratio to (b'), and the worker's CPU seconds per 1,000 decisions.
With --profile the worker of the chosen settings is sampled by py-spy (raw stacks in
bench/results/profile-worker.txt, summarised by `python -m bench.tuning --summarise FILE`).
Writes bench/results/tuning.json and tuning.md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from bench.broker import on_broker
from bench.pipeline import _rate, baseline_spans, measure_facegate, run_tag
from bench.results import RESULTS, write_results
from bench.scratch import scratch
from bench.suite import captures

FAUST_DEFAULTS = {  # what the worker ran with before: Faust's own client defaults
    "FACEGATE_PRODUCER_MAX_BATCH_BYTES": "16384",
    "FACEGATE_PRODUCER_LINGER_MS": "0",
    "FACEGATE_CONSUMER_MAX_FETCH_BYTES": str(1 << 20),
    "FACEGATE_STREAM_BUFFER_MAXSIZE": "4096",
}
FEWER_FETCHES = {"FACEGATE_CONSUMER_FETCH_MIN_BYTES": str(256 << 10), "FACEGATE_CONSUMER_FETCH_MAX_WAIT_MS": "10"}
DEFAULTS = "the defaults"  # the variant --profile samples
VARIANTS: dict[str, dict[str, str]] = {
    "Faust client defaults, batch 256 (before)": {**FAUST_DEFAULTS, "FACEGATE_BATCH_SIZE": "256"},
    DEFAULTS: {},
    "the defaults, fetches wait for 256 KiB or 10 ms": FEWER_FETCHES,
    "the defaults, an idle worker lingers 20 ms": {"FACEGATE_BATCH_WAIT_MS": "20"},
}


def run(
    events: int, bootstrap: str, work: Path, variants: dict[str, dict[str, str]], profile: str | None = None
) -> dict[str, Any]:
    load = captures(events)
    base = baseline_spans(bootstrap, work, load.payloads, only=("faust_tuned",))
    rows = []
    for name, env in variants.items():
        measured = measure_facegate(
            bootstrap, work / run_tag(), load.world, load.payloads, env,
            profile=RESULTS / "profile-worker.txt" if name == profile else None,
        )  # fmt: skip
        rows.append({"variant": name, "env": env, **measured})
    b = _rate(events, base["faust_tuned"])
    for row in rows:
        row["over_faust_tuned"] = row["events_per_second"] / b
    return {"events": events, "faust_tuned": b, "variants": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Worker settings ({result['events']} captures, 20 enrolled per tenant, one run, one broker)",
        "", f"(b') tuned Faust forwarder (Faust's own consumer) on the same records: {result['faust_tuned']:,.0f} events/s. "
        "c/b' ranks the variants against one another; the goals' ratio is bench.suite's, over the faster of (b') and (b'').", "",
        "| variant | decisions/s | c/b' | CPU-s per 1,000 | RSS MiB | settings |", "|---|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for r in result["variants"]:
        lines.append(
            f"| {r['variant']} | {r['events_per_second']:,.0f} | {r['over_faust_tuned']:.2f} | "
            f"{r['cpu_seconds_per_1000']:.2f} | {r['rss_bytes'] / 2**20:.0f} | {r['settings']} |"
        )
    return "\n".join(lines) + "\n"


def summarise(path: Path, top: int = 40) -> str:
    """Inclusive share of samples per function in py-spy's raw (collapsed) output."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        for frame in {
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" if " (" in f else f for f in stack.split(";")
        }:
            inclusive[frame] += n
    return "\n".join(f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--profile", action="store_true", help="sample the worker of the current defaults with py-spy")
    parser.add_argument("--summarise", type=Path, default=None)
    args = parser.parse_args()
    if args.summarise:
        print(summarise(args.summarise))
        return
    with scratch() as work:
        profile = DEFAULTS if args.profile else None
        result = on_broker(args.bootstrap, work, lambda bootstrap: run(args.events, bootstrap, work, VARIANTS, profile))
        write_results("tuning", result, markdown(result))


if __name__ == "__main__":
    main()
