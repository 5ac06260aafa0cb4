"""Batches as they are ready (gateway/shell/batches.py), on a real Faust agent's stream (Faust's
test context: no broker). An agent that is busy finds the next batch waiting; an idle one takes
the first event at once, or lingers for more; one that is behind lets the batch fill."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP
from faust.types.tuples import Message

from gateway.shell.batches import Behind, ready_batches, records_behind

DEADLINE = 10.0


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.001)


Body = Callable[[Any, list[list[Any]], asyncio.Event], Awaitable[None]]


def scenario(max_: int, linger: float, body: Body, behind: Behind | None = None, fill_bound: float = 0.0) -> None:
    """Run `body(agent, batches, go)` against an agent taking `ready_batches(max_, linger, ...)`; the
    agent records each batch's events and then waits for `go` before asking for the next."""

    async def run() -> None:
        app = faust.App("batches-test", broker="kafka://127.0.0.1:1", store="memory://")
        batches: list[list[Any]] = []
        go = asyncio.Event()

        @app.agent()
        async def agent(stream: faust.StreamT[Any]) -> None:
            async for batch in ready_batches(stream, max_, linger, behind, fill_bound):
                batches.append(batch)
                await go.wait()
                go.clear()

        async with agent.test_context() as running:
            await body(running, batches, go)

    asyncio.run(run())


def values(batches: list[list[Any]]) -> list[list[Any]]:
    return [[e.value for e in batch] for batch in batches]


def test_what_arrived_while_a_batch_was_decided_is_the_next_batch_never_more_than_max() -> None:
    async def body(agent: Any, batches: list[list[Any]], go: asyncio.Event) -> None:
        for n in range(7):  # the agent is still on the first batch while these arrive
            await agent.put(n)
        await until(lambda: len(batches) == 1)
        go.set()
        await until(lambda: len(batches) == 2)
        go.set()
        await until(lambda: len(batches) == 3)
        assert values(batches) == [[0, 1, 2], [3, 4, 5], [6]]
        go.set()

    scenario(3, 0.0, body)


def test_an_idle_agent_takes_the_first_event_at_once() -> None:
    async def body(agent: Any, batches: list[list[Any]], go: asyncio.Event) -> None:
        await agent.put("a")
        await until(lambda: len(batches) == 1)  # no window to wait out (within the deadline)
        go.set()
        await agent.put("b")
        await until(lambda: len(batches) == 2)
        assert values(batches) == [["a"], ["b"]]
        go.set()

    scenario(100, 0.0, body)


def test_lingering_lets_events_join_the_first_until_the_batch_is_full() -> None:
    async def body(agent: Any, batches: list[list[Any]], go: asyncio.Event) -> None:
        await agent.put("a")
        await agent.put("b")  # within the (hour-long) linger: joins "a", and fills the batch
        await until(lambda: len(batches) == 1)
        assert values(batches) == [["a", "b"]]
        go.set()

    scenario(2, 3600.0, body)


def test_a_batch_is_acknowledged_once_the_agent_moves_past_it_and_not_before() -> None:
    async def body(agent: Any, batches: list[list[Any]], go: asyncio.Event) -> None:
        for n in range(4):
            await agent.put(n)
        await until(lambda: len(batches) == 1)
        first = batches[0]
        assert not any(e.message.acked for e in first), "the agent is still deciding it"
        go.set()
        await until(lambda: len(batches) == 2)
        assert all(e.message.acked for e in first)
        assert not any(e.message.acked for e in batches[1])
        go.set()

    scenario(2, 0.0, body)


def test_a_batch_that_is_behind_fills_before_it_is_decided() -> None:
    async def body(agent: Any, batches: list[list[Any]], go: asyncio.Event) -> None:
        await agent.put("a")
        await agent.put("b")  # Kafka holds more: "a" waits for the batch to fill (for up to an hour)
        await agent.put("c")
        await until(lambda: len(batches) == 1)
        assert values(batches) == [["a", "b", "c"]]
        go.set()

    scenario(3, 0.0, body, behind=lambda events: 1_000, fill_bound=3600.0)


def test_a_batch_waits_only_for_what_kafka_holds_past_it() -> None:
    async def body(agent: Any, batches: list[list[Any]], go: asyncio.Event) -> None:
        await agent.put("a")
        await agent.put("b")  # the one record Kafka held past "a"
        await until(lambda: len(batches) == 1)
        assert values(batches) == [["a", "b"]]  # not waiting (an hour) for a third
        go.set()

    scenario(3, 0.0, body, behind=lambda events: 2 - len(events), fill_bound=3600.0)


def test_records_behind_counts_past_the_newest_event_of_each_partition() -> None:
    def event(topic: str, partition: int, offset: int) -> Any:
        return Delivered(Message(topic, partition, offset, 0.0, 0, None, None, b"", None, tp=TP(topic, partition)))

    events = [event("raw", 0, 5), event("raw", 0, 7), event("raw", 1, 2), event("other", 0, 9)]
    highwaters = {TP("raw", 0): 10, TP("raw", 1): 3, TP("other", 0): None}  # next offsets; None: unknown
    # raw/0: offsets 8 and 9 wait; raw/1: none after 2; other/0: not fetched yet, counted as none
    assert records_behind(events, highwaters.__getitem__) == 2
    assert records_behind([], highwaters.__getitem__) == 0


@dataclass
class Delivered:
    message: Message
