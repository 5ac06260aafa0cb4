"""Batches as they are ready: what arrived while the last batch was decided, decided at once.

Faust's `take_events(max, within)` stops taking while the agent decides a batch, then waits
`within` for the next one to fill, even when events are already waiting: a capture arriving
mid-batch waits out the rest of that batch, the full window, then its own batch. Here the stream
keeps filling the next batch while the current one is decided (and its records acknowledged by
Kafka), and the agent gets it as soon as it asks: under a paced load batches grow with the load
by themselves and nobody waits for a window. Two waits remain. An idle worker waits for the first
event, then `linger` for others to join it. A worker that is behind (Kafka already holds more
than a batch's worth past what it has taken) lets the batch fill, for up to FILL_BOUND: each
batch costs its round trips to Kafka whatever its size, so a backlog is drained in full batches.
As in Faust's, a batch's events are acknowledged when the generator moves past it or closes
(acks.py holds them until decided).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from faust.types import TP, EventT, StreamT

# Seconds a batch that is behind waits to fill: beside the rest, Faust took in ~5,000 events/s in
# bench/PROFILES.md's backlog, so 200 ms fills 1,000 (50 ms gave batches of ~220, 20% slower).
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
    arrive and those arriving within `linger` seconds; when `behind(batch)` says Kafka holds
    enough to fill it, filled first for up to `fill_bound` seconds."""
    s: Any = stream  # Faust's Stream: the same internals its take_events uses
    pending: list[EventT[Any]] = []
    arrived, full, room = asyncio.Event(), asyncio.Event(), asyncio.Event()
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
        if len(pending) >= max_:
            full.set()
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
                await s.wait_for_stopped(full, timeout=linger)
        if behind is not None and 0 < len(pending) < max_ and behind(pending) >= max_ - len(pending):
            await s.wait_for_stopped(full, timeout=fill_bound)
        if not pending:
            continue
        batch = pending[:]
        pending.clear()
        full.clear()
        room.set()
        try:
            yield batch
        finally:
            for event in batch:
                await s.ack(event)
