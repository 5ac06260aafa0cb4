"""Benchmark: what a second worker in the consumer group costs per decision.

    python -m bench.scaling [--enrolled 1000,100000] [--rates 125,250,375,500,750] [--seconds 20]
                            [--bootstrap host:port]

A worker decides what is ready as one batch, so under a light load its batches are small, and
each batch has its own cycle (context, two produce round trips to Kafka, Faust's fetches and
acknowledgements): its CPU per decision depends on the rate it sees, and two workers in one group
each see half the rate. So a group of two is compared with one worker at the rate each of its
workers sees: the group at rate R against one worker at R/2. A second worker that adds no work
per decision costs the group no more per decision than one worker costs at R/2. Each gallery size
is run twice on fresh topics, with one worker and then with two in one group, each through an
idle window and then the same paced loads (below one worker's maximum, so no backlog grows); CPU
is each worker's own /proc accounting, batches its `facegate_batch_captures` histogram's count.
(A least-squares fit of CPU on seconds, batches and decisions did not hold, giving negative
costs: a worker with input uses the CPU it is given; see bench/PROFILES.md.) Writes
bench/results/scaling.json and scaling.md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench.broker import on_broker
from bench.pipeline import facegate_settings
from bench.results import cpu_seconds, write_results
from bench.scratch import scratch
from bench.suite import Group, _decided, _paced, captures, running_gateway
from gateway.settings import Settings

IDLE_SECONDS = 15.0


def _window(group: Group, rate: float, seconds: float, seed: int, bootstrap: str) -> dict[str, Any]:
    """One measuring window: `rate` captures/s for `seconds` (none: idle), every one decided."""
    pool = group.pool
    cpu = [cpu_seconds(w.process.pid or 0) for w in pool]
    made = [w.metric("facegate_decisions_total") for w in pool]
    batched = [w.metric("facegate_batch_captures_count") for w in pool]
    started = time.monotonic()
    if rate > 0:
        load = captures(int(rate * seconds), seed=seed)

        async def send_and_follow() -> dict[str, int]:
            # Followed while sent, so the window closes with the last decision, not seconds later.
            follow = asyncio.create_task(_decided(bootstrap, group.names.audit, load.event_ids, 600))
            await _paced(bootstrap, group.names, load.payloads, rate)
            return await follow

        undecided = len(load.event_ids - asyncio.run(send_and_follow()).keys())
    else:  # the measurement is the window itself: nothing is sent, nothing awaited
        time.sleep(seconds)
        undecided = 0
    elapsed = time.monotonic() - started
    return {
        "rate": rate, "seconds": elapsed, "undecided": undecided,
        "decisions": [w.metric("facegate_decisions_total") - m for w, m in zip(pool, made, strict=True)],
        "batches": [w.metric("facegate_batch_captures_count") - b for w, b in zip(pool, batched, strict=True)],
        "cpu_seconds": [cpu_seconds(w.process.pid or 0) - c for w, c in zip(pool, cpu, strict=True)],
    }  # fmt: skip


def per_1000(window: dict[str, Any]) -> float:
    """The group's CPU seconds per 1,000 decisions in one window."""
    return 1000 * float(sum(window["cpu_seconds"])) / max(1.0, float(sum(window["decisions"])))


def per_batch(window: dict[str, Any]) -> float:
    """The group's captures per decided batch in one window."""
    return float(sum(window["decisions"])) / max(1.0, float(sum(window["batches"])))


def at_the_rate_each_sees(one: dict[str, Any], two: dict[str, Any]) -> list[dict[str, float]]:
    """The group of two at rate R beside one worker at R/2, for every R where both were measured."""
    alone = {w["rate"]: w for w in one["windows"] if w["rate"] > 0}
    rows = []
    for w in two["windows"]:
        single = alone.get(w["rate"] / 2)
        if w["rate"] > 0 and single is not None:
            rows.append({
                "rate": w["rate"], "two_per_1000": per_1000(w), "one_per_1000": per_1000(single),
                "two_per_batch": per_batch(w), "one_per_batch": per_batch(single),
            })  # fmt: skip
    return rows


def measure(
    bootstrap: str, work: Path, enrolled: int, workers: int, rates: list[float], seconds: float
) -> dict[str, Any]:
    with running_gateway(bootstrap, work, enrolled, 0, workers) as group:
        windows = [_window(group, 0.0, IDLE_SECONDS, 0, bootstrap)]
        windows += [_window(group, r, seconds, 300 + i, bootstrap) for i, r in enumerate(rates)]
    return {"enrolled_per_tenant": enrolled, "workers": workers, "windows": windows}


def run(bootstrap: str, work: Path, enrolled: list[int], rates: list[float], seconds: float) -> dict[str, Any]:
    levels = [measure(bootstrap, work, n, workers, rates, seconds) for n in enrolled for workers in (1, 2)]
    settings = facegate_settings(Settings())  # the workers' environment is this process's
    return {"rates": rates, "seconds": seconds, "idle_seconds": IDLE_SECONDS, "settings": settings, "levels": levels}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# What a second worker costs (one Apache Kafka, 4 partitions, paced loads, one run)",
        "",
        f"Each configuration on fresh topics: an idle window of {result['idle_seconds']:.0f} s, then "
        + " and ".join(f"{r:,.0f}" for r in result["rates"])
        + f" captures/s for {result['seconds']:.0f} s each (the scenario's decision mix). CPU is each worker's own"
        " accounting (/proc), summed over the group; batches are each worker's decided batches of captures.",
        "",
        f"Worker settings: {result.get('settings', 'not recorded')}.",
        "",
        "| enrolled per tenant | workers | window | decisions per worker | captures per batch | CPU-s per worker "
        "| group CPU-s per 1,000 decisions |",
        "|---:|---:|---|---|---|---|---:|",
    ]
    for level in result["levels"]:
        for w in level["windows"]:
            if w["rate"]:
                what, per = f"{w['rate']:,.0f}/s, {w['seconds']:.1f} s", f"{per_1000(w):.2f}"
            else:  # what the group spends per second with nothing to decide
                what = f"idle, {w['seconds']:.1f} s"
                per = f"— ({sum(w['cpu_seconds']) / w['seconds']:.3f} CPU-s per second)"
            sizes = " / ".join(f"{d / b:.1f}" if b else "—" for d, b in zip(w["decisions"], w["batches"], strict=True))
            lines.append(
                f"| {level['enrolled_per_tenant']:,} | {level['workers']} | {what} | "
                + " / ".join(f"{d:,.0f}" for d in w["decisions"]) + f" | {sizes} | "
                + " / ".join(f"{c:.2f}" for c in w["cpu_seconds"]) + f" | {per} |"
            )  # fmt: skip
    compared = []  # per gallery size, the group of two beside one worker at the rate each sees
    for n in sorted({level["enrolled_per_tenant"] for level in result["levels"]}):
        one, two = (
            next(x for x in result["levels"] if x["enrolled_per_tenant"] == n and x["workers"] == k) for k in (1, 2)
        )
        compared.append((n, at_the_rate_each_sees(one, two)))
    lines += [
        "",
        "Each worker at the rate it sees: the group of two at a rate, one worker alone at half of it.",
        "",
        "| enrolled per tenant | group rate | group of two: CPU-s per 1,000 (captures per batch) "
        "| one worker at half the rate | change |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, rows in compared:
        for row in rows:
            lines.append(
                f"| {n:,} | {row['rate']:,.0f}/s | {row['two_per_1000']:.2f} ({row['two_per_batch']:.1f}) | "
                f"{row['one_per_1000']:.2f} ({row['one_per_batch']:.1f}) | "
                f"{100 * (row['two_per_1000'] / row['one_per_1000'] - 1):+.0f}% |"
            )
    lines.append("")
    for n, rows in compared:
        changes = [100 * (r["two_per_1000"] / r["one_per_1000"] - 1) for r in rows]
        if changes:
            lines.append(
                f"- {n:,} enrolled: the group of two spent {min(changes):+.0f}% to {max(changes):+.0f}% per decision "
                "against one worker at the rate each of its workers saw."
            )
    undecided = sum(w["undecided"] for level in result["levels"] for w in level["windows"])
    lines += ["", f"Undecided captures in all windows: {undecided}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enrolled", default="1000,100000")
    parser.add_argument("--rates", default="125,250,375,500,750", help="paced captures/s, below one worker's maximum")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with scratch() as work:
        enrolled = [int(n) for n in args.enrolled.split(",")]
        rates = [float(r) for r in args.rates.split(",")]
        result = on_broker(args.bootstrap, work, lambda bootstrap: run(bootstrap, work, enrolled, rates, args.seconds))
        write_results("scaling", result, markdown(result))


if __name__ == "__main__":
    main()
