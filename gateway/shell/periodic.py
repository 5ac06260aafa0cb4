"""Periodic work at a steady rate, without mode's warning when a run outlasts its interval.

mode's timers (Faust's `app.timer`, `Service.timer`) log a WARNING, "Timer ... is overlapping",
whenever a run outlasts its interval. The worker's periodic work waits its turn behind batches:
the checkpoints for the partitions' lock, the feeds' lag for an event loop that is deciding. In a
flood (a backlog of enrollments, a sweep erasing a whole gallery) a run takes longer than its
interval as designed, and the next one simply follows. What an operator watches is the work's
outcome (the checkpoints' age, the feed lag: both metrics with alerts), not the timer's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mode import Service

Periodic = Callable[[], Awaitable[None]]


async def repeat(service: Service, interval: float, work: Periodic) -> None:
    """Start `work` every `interval` seconds (the first after one interval) until `service` stops.
    A run that outlasts the interval is followed at once and missed turns are not made up; a stop
    ends the wait at once and lets a run in progress finish."""
    loop = asyncio.get_running_loop()
    due = loop.time() + interval
    while True:
        await service.sleep(max(0.0, due - loop.time()))
        if service.should_stop:
            return
        began = loop.time()
        await work()
        due = began + interval
