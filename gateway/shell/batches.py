"""Batches as they are ready: what arrived while the last batch was decided, decided at once.

Faust's `take_events(max, within)` stops taking while the agent decides a batch, then waits
`within` for the next one to fill, even when events are already waiting: a capture arriving
mid-batch waits out the rest of that batch, the full window, then its own batch. Here the stream
keeps filling the next batch while the current one is decided (and its records acknowledged by
Kafka), and the agent gets it as soon as it asks: under a paced load batches grow with the load
by themselves and nobody waits for a window. Two waits remain. An idle worker waits for the first
event, then `linger` for others to join it. And a batch takes what Kafka already holds past its
events (by the high watermarks of the last fetch), up to `max_`, waiting for up to FILL_BOUND
while Faust takes them in: a backlog is drained in full batches (each batch costs its round trips
to Kafka, and at a large gallery a pass over it, whatever its size), and a record that was
fetched while the last batch was decided is not left for the one after.
As in Faust's, a batch's events are acknowledged when the generator moves past it or closes
(acks.py holds them until decided).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from faust.types import TP, EventT, StreamT

# Seconds a batch waits for what Kafka holds past it: beside the rest, Faust took in ~5,000 events/s
# in bench/PROFILES.md's backlog, so 200 ms fills 1,000 (50 ms gave batches of ~220, 20% slower).
FILL_BOUND = 0.2

Behind = Callable[[Sequence[EventT[Any]]], int]  # records Kafka holds past these events' offsets


def records_behind(events: Sequence[EventT[Any]], highwater: Callable[[TP], int | None]) -> int:
    """Records Kafka holds past the newest of `events` in each of their partitions, by the high
    watermarks the consumer last fetched (`highwater(tp)`: the next offset, None when unknown)."""
    newest: dict[TP, int] = {}
    for event in events:
        tp, offset = event.message.tp, event.message.offset
        newest[tp] = max(newest.get(tp, offset), offset)
    return sum(max(0, (highwater(tp) or 0) - offset - 1) for tp, offset in newest.items())


async def ready_batches(
    stream: StreamT[Any], max_: int, linger: float, behind: Behind | None = None, fill_bound: float = FILL_BOUND
) -> AsyncIterator[list[EventT[Any]]]:
    """Up to `max_` events at a time from `stream`: those received when asked, else the first to
    arrive and those arriving within `linger` seconds; and the `behind(batch)` more that Kafka
    holds past them, waited for up to `fill_bound` seconds."""
    s: Any = stream  # Faust's Stream: the same internals its take_events uses
    pending: list[EventT[Any]] = []
    target = max_  # the batch is yielded early once it holds this many
    arrived, filled, room = asyncio.Event(), asyncio.Event(), asyncio.Event()
    room.set()

    async def add(value: Any) -> Any:
        event = s.current_event
        if event is None:
            raise RuntimeError("a stream processor ran without its event")
        while len(pending) >= max_:  # strict: the batch being filled is full; wait for it to go
            room.clear()
            await s.wait(room)
            if s.should_stop:  # never taken, never acknowledged: the partition's next owner has it
                return value
        pending.append(event)
        arrived.set()
        if len(pending) >= target:
            filled.set()
        return value

    s.enable_acks = False  # acknowledged below, once the agent moved past the batch
    s.add_processor(add)
    s._enable_passive(aiter(s.channel))
    while not s.should_stop:
        if not pending:
            arrived.clear()
            if await s.wait_for_stopped(arrived):
                break
            if linger > 0 and len(pending) < max_:
                target = max_
                filled.clear()
                await s.wait_for_stopped(filled, timeout=linger)
        if behind is not None and 0 < len(pending) < max_:
            # What Kafka already holds past these events comes in this batch, not the next.
            target = min(max_, len(pending) + behind(pending))
            if len(pending) < target:
                filled.clear()
                await s.wait_for_stopped(filled, timeout=fill_bound)
        if not pending:
            continue
        batch = pending[:]
        pending.clear()
        room.set()
        try:
            yield batch
        finally:
            for event in batch:
                await s.ack(event)
