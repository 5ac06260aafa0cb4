"""Periodic work (gateway/shell/periodic.py): an interval between the end of one run and the start
of the next, however long a run took, a stop that ends the wait at once, and no mode timer left
in the gateway to log "Timer ... is overlapping" behind a flood."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from pathlib import Path

import pytest
from mode import Service
from mode.timers import Timer

from gateway.shell.periodic import repeat

INTERVAL = 0.02
GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


class Owner(Service):
    """Whose stop ends the work (the worker's Faust app, the feed reader)."""


def test_each_run_follows_the_last_ones_end_by_the_interval_however_long_it_took() -> None:
    runs: list[tuple[float, float]] = []
    enough = asyncio.Event()

    async def work() -> None:
        began = time.monotonic()
        # Every other run outlasts the interval three times over, as a checkpoint behind a flood.
        await asyncio.sleep(3 * INTERVAL if len(runs) % 2 == 0 else 0)
        runs.append((began, time.monotonic()))
        if len(runs) >= 6:
            enough.set()

    async def main() -> None:
        owner = Owner()
        await owner.start()
        task = asyncio.create_task(repeat(owner, INTERVAL, work))
        await asyncio.wait_for(enough.wait(), 10.0)
        await owner.stop()
        await asyncio.wait_for(task, 5.0)

    asyncio.run(main())
    pauses = [later[0] - earlier[1] for earlier, later in itertools.pairwise(runs)]
    assert len(pauses) >= 5
    assert min(pauses) >= INTERVAL * 0.9  # asyncio's clock may wake a little early


def test_a_stop_ends_the_wait_and_nothing_runs_after_it() -> None:
    ran: list[float] = []

    async def work() -> None:
        ran.append(time.monotonic())

    async def main() -> None:
        owner = Owner()
        await owner.start()
        task = asyncio.create_task(repeat(owner, 3600.0, work))  # a wait far longer than the test
        await asyncio.sleep(0)
        await owner.stop()
        await asyncio.wait_for(task, 5.0)  # raises if the stop did not end the wait

    asyncio.run(main())
    assert ran == []


def test_mode_timers_warn_when_a_run_outlasts_the_interval(caplog: pytest.LogCaptureFixture) -> None:
    # Why the gateway does not use them: the warning this module avoids is real.
    clock = [0.0]
    timer = Timer(1.0, name="checkpoints", clock=lambda: clock[0])
    timer.tick()
    clock[0] += 1.0
    timer.on_before_yield()  # slept its interval
    clock[0] += 2.5  # the run waited behind a batch
    with caplog.at_level(logging.WARNING):
        timer.tick()
    assert any("is overlapping" in r.getMessage() for r in caplog.records)


def test_no_periodic_work_in_the_gateway_runs_on_a_mode_timer() -> None:
    timers = re.compile(r"\.timer\(|\bitertimer\(|\bTimer\(")
    found = [
        f"{path.relative_to(GATEWAY.parent)}:{n}"
        for path in sorted(GATEWAY.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if timers.search(line)
    ]
    assert found == []
    for module in ("worker.py", "feeds.py"):  # what used to run on one
        assert "from gateway.shell.periodic import" in (GATEWAY / "shell" / module).read_text()
