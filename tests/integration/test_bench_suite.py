"""The benchmark suite runs end to end on the session's broker (a small run; no time asserted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.cores import Cores
from bench.suite import markdown, plot, run, running_gateway
from gateway.brokers.apache_kafka import KafkaBroker

pytestmark = pytest.mark.kafka


@pytest.mark.timeout(600)
def test_suite_measures_baselines_levels_latency_and_two_workers(kafka: KafkaBroker, tmp_path: Path) -> None:
    result = run(400, [60, 300], kafka.bootstrap_servers, tmp_path, split_levels=[60])
    assert set(result["baselines"]) == {"aiokafka_fast", "faust_tuned", "faust_shell", "aiokafka_loop", "faust_forward"}
    assert [g["enrolled_per_tenant"] for g in result["gateway"]] == [60, 300]
    for level in result["gateway"]:
        assert level["undecided"] == 0 and level["events_per_second"] > 0
        assert level["latency_ms_at_half_rate"]["samples"] >= 200 and level["latency_ms_at_half_rate"]["p99"] > 0
        # Every capture was in a timed batch, and deciding and Kafka's acknowledgements took time.
        backlog = level["batches"]["backlog"]
        assert backlog["batches"] >= 1 and backlog["captures_per_batch"] * backlog["batches"] >= 400
        assert all(
            level["batches"][str(s)][f"{p}_ms"] > 0 for s in (0.1, 0.25, 0.5) for p in ("decide", "effects", "audit")
        )
    # Pipelines that decide nothing, paced at the first level's rates beside FaceGate: latency and CPU.
    # The two-write hop is timed to its second write: a hop that never wrote it would time out.
    assert set(result["paced_baselines"]) == {"faust_tuned", "faust_shell", "aiokafka_hop", "aiokafka_hop_two_writes"}
    cores = len(os.sched_getaffinity(0))
    for share in ("0.1", "0.25", "0.5"):
        levels = [level["latency_ms"][share] for level in result["gateway"]]
        baselines = [paced[share] for paced in result["paced_baselines"].values()]
        for paced in baselines:
            assert paced["rate"] == result["gateway"][0]["latency_ms"][share]["rate"]
            assert paced["samples"] >= 200 and 0 <= paced["p50"] <= paced["p99"] and paced["p99"] > 0
        # CPU per event in milliseconds: at its rate no process can use more than the machine's cores.
        assert all(0 < w["cpu_ms_per_event"] * w["rate"] / 1000 <= cores for w in levels + baselines)
    # The goals' ratio is over the faster of the two tuned Faust forwarders.
    for level in result["gateway"]:
        assert level["over_faust_best"] == min(level["over_faust_tuned"], level["over_faust_shell"])
    [split] = result["two_workers"]
    assert split["workers"] == 2 and split["undecided"] == 0 and len(split["worker_rss_bytes"]) == 2
    assert sum(split["worker_decisions"]) >= 400 and all(c > 0 for c in split["cpu_seconds_per_1000"])
    assert all(level["cpu_seconds_per_1000"][0] > 0 for level in result["gateway"])
    assert "Two workers" in markdown(result) and "| 300 | 50% of max |" in markdown(result)
    table = markdown(result)
    assert "| CPU-s per 1,000 decisions | cores busy |" in table
    # FaceGate's settings beside its figures, as the baselines' are.
    assert result["facegate_settings"].startswith("batch ") and "acks=all" in result["facegate_settings"]
    assert f"(c) FaceGate's worker: {result['facegate_settings']}" in table
    assert "| (b') forwarding, at the 60 level's rates |" in table
    assert "| (b'') forwarding, FaceGate's consumer, at the 60 level's rates |" in table
    assert "| aiokafka hop, two writes, at the 60 level's rates |" in table
    assert "| FaceGate, 300 enrolled per tenant |" in table
    plot(result, tmp_path / "suite.png")
    assert (tmp_path / "suite.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_pinned_level_runs_its_worker_and_every_thread_of_it_on_a_core_of_its_own(
    kafka: KafkaBroker, tmp_path: Path
) -> None:
    cores = Cores.pinned()
    with running_gateway(kafka.bootstrap_servers, tmp_path, 60, 10, cores=cores) as group:
        [worker] = group.pool
        tasks = list(Path(f"/proc/{worker.process.pid}/task").iterdir())
        placed = {frozenset(os.sched_getaffinity(int(task.name))) for task in tasks}
    # Every thread of it: its event loop's (Faust's consumer runs on it, app_loop.py) and any it started,
    # which inherit the placement of the thread that starts them.
    assert tasks and placed == {cores.own}
    assert os.sched_getaffinity(0) != cores.own  # the test's own thread went back where it was
