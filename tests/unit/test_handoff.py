"""Faust's consumer hands a message to the streams at once when it can, and races it as before when
it has to wait (gateway/shell/handoff.py)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from mode import Service

from gateway.shell.handoff import QuickHandOff
from tests.support.aio import until


class Flowing(Service):
    """As Faust's consumer: a service with a flow that a rebalance suspends."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


class Quick(QuickHandOff, Flowing):
    pass


class Probe:
    """The two sides of one hand-off: the delivery, and the wait for a suspended flow."""

    def __init__(self, consumer: Flowing, gate: asyncio.Event | None = None) -> None:
        self.consumer, self.gate = consumer, gate
        self.delivered = self.given_up = self.flow_watched = False

    async def deliver(self) -> str:
        try:
            if self.gate is not None:  # a full stream buffer
                await self.gate.wait()
        except asyncio.CancelledError:
            self.given_up = True
            raise
        self.delivered = True
        return "delivered"

    async def flow_suspended(self) -> None:
        self.flow_watched = True
        await self.consumer.suspend_flow.wait()

    def race(self) -> Any:
        return self.consumer.wait_first(self.deliver(), self.flow_suspended())


def test_a_hand_off_that_completes_at_once_is_the_winner_and_races_nothing() -> None:
    async def main() -> None:
        probe = Probe(Quick())
        flow = probe.flow_suspended()
        results = await probe.consumer.wait_first(probe.deliver(), flow)
        assert (results.results, results.stopped) == (["delivered"], False)
        assert probe.delivered
        assert not probe.flow_watched  # never started: no task, no wait
        assert inspect.getcoroutinestate(flow) == inspect.CORO_CLOSED  # and no "never awaited" warning

    asyncio.run(main())


def test_a_hand_off_that_waits_is_picked_up_where_it_stopped_and_raced_as_before() -> None:
    async def main() -> None:
        gate = asyncio.Event()
        probe = Probe(Quick(), gate)
        race = asyncio.ensure_future(probe.race())
        await until(lambda: probe.flow_watched)  # raced, as Faust does
        assert not race.done() and not probe.delivered
        gate.set()  # the stream took a message: the buffer has room
        results = await race
        assert probe.delivered and not results.stopped
        assert "delivered" in results.results

    asyncio.run(main())


def test_a_waiting_hand_off_is_given_up_when_the_flow_is_suspended() -> None:
    async def main() -> None:
        probe = Probe(Quick(), asyncio.Event())  # the buffer stays full
        race = asyncio.ensure_future(probe.race())
        await until(lambda: probe.flow_watched)
        probe.consumer.suspend_flow.set()  # a rebalance
        results = await race
        assert not results.stopped and not probe.delivered
        await until(lambda: probe.given_up)

    asyncio.run(main())


@pytest.mark.parametrize("state", ["flow suspended", "stopped"])
def test_a_suspended_flow_or_a_stopped_consumer_goes_the_general_way(state: str) -> None:
    async def main() -> None:
        consumer = Quick()
        if state == "stopped":
            consumer._stopped.set()
        else:
            consumer.suspend_flow.set()
        probe = Probe(consumer)
        results = await probe.race()
        assert probe.flow_watched  # both sides were started and raced
        assert results.stopped == (state == "stopped")

    asyncio.run(main())


def test_a_hand_off_that_fails_at_once_raises_and_leaves_nothing_behind() -> None:
    async def main() -> None:
        consumer = Quick()
        probe = Probe(consumer)

        async def broken() -> None:
            raise ValueError("no callback for this partition")

        flow = probe.flow_suspended()
        with pytest.raises(ValueError, match="no callback"):
            await consumer.wait_first(broken(), flow)
        assert inspect.getcoroutinestate(flow) == inspect.CORO_CLOSED

    asyncio.run(main())


def test_it_decides_as_faust_does_whatever_the_hand_off() -> None:
    """The same hand-offs through Faust's own wait_first give the same winners' results."""

    async def main() -> list[tuple[list[Any], bool]]:
        seen = []
        for consumer in (Flowing(), Quick()):
            gate = asyncio.Event()
            now, later = Probe(consumer), Probe(consumer, gate)
            first = await now.race()
            race = asyncio.ensure_future(later.race())
            await until(lambda probe=later: probe.flow_watched)  # type: ignore[misc]
            gate.set()
            second = await race
            seen.append(
                (["delivered" in first.results, "delivered" in second.results], first.stopped or second.stopped)
            )
        return seen

    faust, quick = asyncio.run(main())
    assert faust == quick == ([True, True], False)
