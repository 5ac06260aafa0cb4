"""Benchmark: what a second worker in the consumer group costs, per second and per decision.

    python -m bench.scaling [--enrolled 1000,100000] [--rates 250,500,750] [--seconds 20] [--bootstrap host:port]

A worker's CPU has a part that grows with the decisions it makes and a part it spends every
second it has input, whatever the amount (its batch loop's cycles, each with its fetches and two
produce round trips; Faust's consumer thread; timers). Run at its maximum rate, a group of two
looks dearer per decision than one worker, but that mixes the two parts (and, on this 2-core
machine, the broker's share of the cores). Here each gallery size is run twice on fresh topics,
with one worker and then with two in one group: each sees an idle window, then the same paced
loads (below one worker's maximum, so no backlog grows), and each worker's own CPU accounting
over the loaded windows is fitted by least squares as

    CPU seconds = fixed x seconds + marginal x decisions

for the group as a whole. A second worker that adds no work per decision leaves `marginal` where
one worker had it and adds about one worker's `fixed`. Writes bench/results/scaling.json and
scaling.md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.broker import on_broker
from bench.pipeline import facegate_settings
from bench.results import cpu_seconds, write_results
from bench.suite import Group, _decided, _paced, captures, running_gateway
from gateway.settings import Settings

IDLE_SECONDS = 15.0


def _window(group: Group, rate: float, seconds: float, seed: int, bootstrap: str) -> dict[str, Any]:
    """One measuring window: `rate` captures/s for `seconds` (none: idle), every one decided."""
    pool = group.pool
    cpu = [cpu_seconds(w.process.pid or 0) for w in pool]
    made = [w.metric("facegate_decisions_total") for w in pool]
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
        "cpu_seconds": [cpu_seconds(w.process.pid or 0) - c for w, c in zip(pool, cpu, strict=True)],
    }  # fmt: skip


def fit(windows: list[dict[str, Any]]) -> dict[str, float]:
    """Least squares of the group's CPU seconds on (seconds, decisions) over its loaded windows
    (an idle worker spends far less per second than one cycling through small batches)."""
    windows = [w for w in windows if w["rate"] > 0]
    x = np.array([[w["seconds"], sum(w["decisions"])] for w in windows], dtype=np.float64)
    y = np.array([sum(w["cpu_seconds"]) for w in windows], dtype=np.float64)
    (fixed, marginal), *_ = np.linalg.lstsq(x, y, rcond=None)
    worst = float(np.max(np.abs(x @ np.array([fixed, marginal]) - y)))
    return {
        "fixed_cpu_per_second": float(fixed),
        "marginal_cpu_ms_per_decision": 1000 * float(marginal),
        "worst_residual_cpu_seconds": worst,
    }


def measure(
    bootstrap: str, work: Path, enrolled: int, workers: int, rates: list[float], seconds: float
) -> dict[str, Any]:
    with running_gateway(bootstrap, work, enrolled, 0, workers) as group:
        windows = [_window(group, 0.0, IDLE_SECONDS, 0, bootstrap)]
        windows += [_window(group, r, seconds, 300 + i, bootstrap) for i, r in enumerate(rates)]
    return {"enrolled_per_tenant": enrolled, "workers": workers, "windows": windows, "fit": fit(windows)}


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
        " accounting (/proc), summed over the group; the loaded windows are fitted as CPU = fixed x seconds + marginal x decisions.",
        "",
        f"Worker settings: {result.get('settings', 'not recorded')}.",
        "",
        "| enrolled per tenant | workers | window | decisions per worker | CPU-s per worker | group CPU-s per 1,000 decisions |",
        "|---:|---:|---|---|---|---:|",
    ]
    for level in result["levels"]:
        for w in level["windows"]:
            if w["rate"]:
                what = f"{w['rate']:,.0f}/s, {w['seconds']:.1f} s"
                per = f"{1000 * sum(w['cpu_seconds']) / sum(w['decisions']):.2f}"
            else:  # what the group spends per second with nothing to decide
                what = f"idle, {w['seconds']:.1f} s"
                per = f"— ({sum(w['cpu_seconds']) / w['seconds']:.3f} CPU-s per second)"
            lines.append(
                f"| {level['enrolled_per_tenant']:,} | {level['workers']} | {what} | "
                + " / ".join(f"{d:,.0f}" for d in w["decisions"]) + " | "
                + " / ".join(f"{c:.2f}" for c in w["cpu_seconds"]) + f" | {per} |"
            )  # fmt: skip
    lines += [
        "",
        "| enrolled per tenant | workers | fixed CPU-s per second (group) | marginal CPU-ms per decision | worst residual CPU-s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for level in result["levels"]:
        f = level["fit"]
        lines.append(
            f"| {level['enrolled_per_tenant']:,} | {level['workers']} | {f['fixed_cpu_per_second']:.3f} | "
            f"{f['marginal_cpu_ms_per_decision']:.3f} | {f['worst_residual_cpu_seconds']:.2f} |"
        )
    lines.append("")
    for n in sorted({level["enrolled_per_tenant"] for level in result["levels"]}):
        one, two = (
            next(x["fit"] for x in result["levels"] if x["enrolled_per_tenant"] == n and x["workers"] == k)
            for k in (1, 2)
        )
        lines.append(
            f"- {n:,} enrolled: the second worker changes the marginal cost per decision by "
            f"{100 * (two['marginal_cpu_ms_per_decision'] / one['marginal_cpu_ms_per_decision'] - 1):+.0f}% "
            f"({one['marginal_cpu_ms_per_decision']:.3f} -> {two['marginal_cpu_ms_per_decision']:.3f} ms) and adds "
            f"{two['fixed_cpu_per_second'] - one['fixed_cpu_per_second']:.3f} CPU-s per second of fixed cost "
            f"(one worker's: {one['fixed_cpu_per_second']:.3f})."
        )  # fmt: skip
    undecided = sum(w["undecided"] for level in result["levels"] for w in level["windows"])
    lines += ["", f"Undecided captures in all windows: {undecided}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enrolled", default="1000,100000")
    parser.add_argument("--rates", default="250,500,750", help="paced captures/s, below one worker's maximum")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="facegate-bench-"))
    enrolled = [int(n) for n in args.enrolled.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    result = on_broker(args.bootstrap, work, lambda bootstrap: run(bootstrap, work, enrolled, rates, args.seconds))
    write_results("scaling", result, markdown(result))


if __name__ == "__main__":
    main()
