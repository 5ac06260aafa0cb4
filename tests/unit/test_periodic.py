"""Periodic work (gateway/shell/periodic.py): runs an interval apart, one that outlasts its
interval followed at once without the warning mode's timers log, and a stop that ends the wait."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest
from mode import Service
from mode.timers import Timer

from gateway.shell.periodic import repeat
from tests.support.aio import until

INTERVAL = 0.02


class Owner(Service):
    """Whose stop ends the work (the worker's Faust app, the feed reader)."""


def test_runs_start_an_interval_apart_and_a_long_one_is_followed_at_once_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[tuple[float, float]] = []

    async def work() -> None:
        began = time.monotonic()
        # Every other run outlasts the interval three times over, as a checkpoint behind a flood.
        await asyncio.sleep(3 * INTERVAL if len(runs) % 2 == 0 else 0)
        runs.append((began, time.monotonic()))

    async def main() -> None:
        owner = Owner()
        await owner.start()
        task = asyncio.create_task(repeat(owner, INTERVAL, work))
        await until(lambda: len(runs) >= 6, turns=100_000)
        await owner.stop()
        await asyncio.wait_for(task, 1.0)

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    pairs = list(itertools.pairwise(runs))
    assert len(pairs) >= 5
    # asyncio's clock may wake a little early; a short run's successor waits out the interval.
    assert all(later[0] - earlier[0] >= INTERVAL * 0.9 for earlier, later in pairs)
    after_long = [later[0] - earlier[1] for earlier, later in pairs if earlier[1] - earlier[0] > INTERVAL]
    after_short = [later[0] - earlier[1] for earlier, later in pairs if earlier[1] - earlier[0] < INTERVAL / 2]
    assert after_long and after_short and max(after_long) < min(after_short)  # followed at once
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_mode_timers_warn_when_a_run_outlasts_the_interval(caplog: pytest.LogCaptureFixture) -> None:
    # Why the worker does not use them: the warning this module avoids is real.
    clock = [0.0]
    timer = Timer(1.0, name="checkpoints", clock=lambda: clock[0])
    timer.tick()
    clock[0] += 1.0
    timer.on_before_yield()  # slept its interval
    clock[0] += 2.5  # the run waited behind a batch
    with caplog.at_level(logging.WARNING):
        timer.tick()
    assert any("is overlapping" in r.getMessage() for r in caplog.records)


def test_a_stop_ends_the_wait_and_nothing_runs_after_it() -> None:
    ran: list[float] = []

    async def work() -> None:
        ran.append(time.monotonic())

    async def main() -> float:
        owner = Owner()
        await owner.start()
        task = asyncio.create_task(repeat(owner, 3600.0, work))  # a wait far longer than the test
        await asyncio.sleep(0)
        began = time.monotonic()
        await owner.stop()
        await asyncio.wait_for(task, 5.0)
        return time.monotonic() - began

    assert asyncio.run(main()) < 5.0
    assert ran == []
