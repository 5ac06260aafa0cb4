"""Faust's consumer hands each fetched message to the streams without a race it almost never needs.

Faust 0.15.3's consumer delivers every message as `wait_first(callback(message),
suspend_flow.wait())`: the hand-off raced against a rebalance suspending the flow (and, inside
`wait_first`, against the service stopping or crashing), so a hand-off blocked on a full stream
buffer is given up when the flow stops. That race makes four tasks and a wait per message (at
2,000 captures/s about a tenth of the event loop's CPU, bench/PROFILES.md), and the hand-off almost
always completes at once: the buffer has room. Here it is run first; only a hand-off that has to
wait (the buffer is full, or the conductor's lock is held during a subscription change) is raced
as before, picked up where it stopped. A flow already suspended, or a service stopped, goes the
general way.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Coroutine, Generator
from typing import Any

from mode.services import WaitResults


@types.coroutine
def _rest(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """The rest of a coroutine whose first step yielded `yielded`, driven by whoever awaits this
    (as `yield from` would: what the event loop sends or throws goes on to the coroutine)."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # a cancellation too: the coroutine decides what it means
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def _resumed(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    # A native coroutine around the generator: mode's wait_first takes awaitables, and a
    # generator-based coroutine is not one to its isinstance check.
    return await _rest(coro, yielded)


class QuickHandOff:
    """A mode Service (Faust's consumer) whose `wait_first(hand_off, other)` runs the hand-off's
    first step at once: done there, it alone is the winner and `other` is never started."""

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        service: Any = self
        first = coros[0] if coros else None
        if (
            len(coros) == 2
            and timeout is None
            and inspect.iscoroutine(first)
            and inspect.getcoroutinestate(first) == inspect.CORO_CREATED
            and not service._stopped.is_set()
            and not service._crashed.is_set()
            and not service.suspend_flow.is_set()
        ):
            try:
                yielded = first.send(None)
            except StopIteration as stop:
                _close(coros[1])
                return WaitResults([first], [stop.value], False)
            except BaseException:
                _close(coros[1])
                raise
            coros = (_resumed(first, yielded), coros[1])
        return await super().wait_first(*coros, timeout=timeout)  # type: ignore[misc]


def _close(awaitable: Any) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()
