"""A pinned benchmark starts the pipeline under test on its own core and everything else on the rest."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from bench.cores import Cores


def _affinity_of_a_child() -> set[int]:
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(*sorted(os.sched_getaffinity(0)))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {int(c) for c in out.stdout.split()}


def _in_a_thread_of_its_own(cores: Cores) -> dict[str, set[int]]:
    """Affinity is a thread's: the test's own thread keeps its cores whatever this thread does."""
    seen: dict[str, set[int]] = {}

    def place() -> None:
        cores.enter()
        seen["rest"] = _affinity_of_a_child()
        with cores.under_test():
            seen["under test"] = _affinity_of_a_child()
        seen["after"] = _affinity_of_a_child()

    thread = threading.Thread(target=place)
    thread.start()
    thread.join()
    return seen


def test_a_pinned_run_starts_the_pipeline_on_a_core_of_its_own() -> None:
    every = os.sched_getaffinity(0)
    if len(every) < 2:
        pytest.fail(f"this test needs two cores (the project's machines have them); this one gives {every}")
    cores = Cores.pinned()
    seen = _in_a_thread_of_its_own(cores)
    assert seen["under test"] == {max(every)} and seen["rest"] == seen["after"] == every - {max(every)}
    assert cores.is_pinned and "core " + str(max(every)) in cores.describe()
    assert os.sched_getaffinity(0) == every  # the test's own thread was not moved


def test_a_shared_run_starts_everything_on_every_core() -> None:
    every = os.sched_getaffinity(0)
    seen = _in_a_thread_of_its_own(Cores.shared())
    assert seen == {"rest": every, "under test": every, "after": every}
    assert not Cores.shared().is_pinned
