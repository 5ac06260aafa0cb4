"""Periodic work, an interval apart, without mode's warning when a run outlasts its interval.

mode's timers (Faust's `app.timer`, `Service.timer`) sleep about an interval between runs and log
a WARNING, "Timer ... is overlapping", whenever a run took longer than the interval. The worker's
periodic work waits its turn behind batches: the checkpoints for the partitions' lock, the feeds'
lag for an event loop that is deciding. In a flood (a backlog of enrollments, a sweep erasing a
whole gallery) a run takes longer than its interval as designed. What an operator watches is the
work's outcome (the checkpoints' age, the feed lag: both metrics with alerts), not the timer's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mode import Service

Periodic = Callable[[], Awaitable[None]]


async def repeat(service: Service, interval: float, work: Periodic) -> None:
    """Run `work` `interval` seconds after the last run ended (the first an interval after the
    start) until `service` stops: a stop ends the wait at once. A sweep that took minutes is not
    followed at once by another walk of the gallery, as with mode's timers."""
    while True:
        await service.sleep(interval)
        if service.should_stop:
            return
        await work()
