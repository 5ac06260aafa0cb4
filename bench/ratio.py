"""(b'), (b'') and (c) in turns: the spread of the goals' ratio that one suite run cannot show.

    python -m bench.ratio [--events 20000] [--enrolled 1000] [--pairs 5] [--bootstrap host:port]

On one Apache Kafka and the same records as bench.suite, `--pairs` turns: the tuned Faust
forwarder (b') and (b'') it on FaceGate's own Faust consumer, each over its own copy of the
captures (which of the two goes first alternates between turns), then a fresh FaceGate worker
(c) with `--enrolled` subjects per tenant deciding them as a backlog; each turn's rates and c over
the faster forwarder (the suite's goal ratio). Only
backlog throughput: latency, CPU and memory are the suite's. A run of 20,000 captures is decided
in a few seconds on a 2-core machine, so one turn says little: the ratio moves by a tenth between
turns. Writes bench/results/ratio.json and ratio.md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from bench.broker import on_broker
from bench.pipeline import BASELINE_SETTINGS, TUNED_FORWARDERS, _rate, baseline_spans
from bench.results import write_results
from bench.scratch import scratch
from bench.suite import captures, drained, running_gateway


def run(events: int, enrolled: int, pairs: int, bootstrap: str, work: Path) -> dict[str, Any]:
    load = captures(events).payloads
    rows = []
    for turn in range(pairs):
        order = TUNED_FORWARDERS if turn % 2 == 0 else TUNED_FORWARDERS[::-1]
        forwarders = {name: _rate(events, baseline_spans(bootstrap, work, load, only=(name,))[name]) for name in order}
        with running_gateway(bootstrap, work, enrolled, events) as group:
            gateway, _ = drained(bootstrap, group)
        rows.append(forwarders | {"facegate": gateway, "ratio": gateway / max(forwarders.values())})
    ratios = [r["ratio"] for r in rows]
    return {
        "events": events, "enrolled_per_tenant": enrolled, "pairs": rows,
        "baseline_settings": {name: BASELINE_SETTINGS[name] for name in TUNED_FORWARDERS},
        "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# c over the faster Faust forwarder, in turns ({result['events']} captures, {result['enrolled_per_tenant']:,} enrolled per tenant, one Apache Kafka)",
        "", f"(b') Faust agent, batched, tuned: {result['baseline_settings']['faust_tuned']}",
        f"(b'') the same on FaceGate's Faust consumer: {result['baseline_settings']['faust_shell']}", "",
        "| turn | (b') events/s | (b'') events/s | (c) decisions/s | c over the faster |", "|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for n, row in enumerate(result["pairs"], 1):
        lines.append(
            f"| {n} | {row['faust_tuned']:,.0f} | {row['faust_shell']:,.0f} | {row['facegate']:,.0f} | {row['ratio']:.2f} |"
        )
    lines += [
        "",
        f"c over the faster Faust forwarder: median {result['ratio_median']:.2f}, {result['ratio_min']:.2f}-{result['ratio_max']:.2f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--enrolled", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with scratch() as work:
        result = on_broker(args.bootstrap, work, lambda b: run(args.events, args.enrolled, args.pairs, b, work))
        write_results("ratio", result, markdown(result))


if __name__ == "__main__":
    main()
