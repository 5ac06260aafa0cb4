"""Holding events against Faust's own acknowledgement, with Faust's real Message: a stream acks
an event when its generator moves on or closes (also when the agent was cancelled mid-batch)."""

from __future__ import annotations

from dataclasses import dataclass

from faust.types.tuples import Message

from gateway.shell.acks import hold, release


@dataclass
class Event:
    message: Message


def delivered(offset: int) -> Event:
    """An event as a stream holds it: one reference, owned by that stream."""
    message = Message("t.faces.raw", 0, offset, 0.0, 0, None, None, b"", None)
    message.incref()
    return Event(message)


def stream_acks(events: list[Event]) -> None:
    """What the batching's `finally` does for every event of the batch it yielded (Faust's take_events and
    gateway/shell/batches.py alike)."""
    for event in events:
        event.message.ack(consumer=None)  # type: ignore[arg-type]  # a plain Message never calls it


def test_without_a_hold_a_cut_short_batch_is_acknowledged() -> None:
    events = [delivered(n) for n in range(3)]
    stream_acks(events)  # the generator closed after the agent was cancelled
    assert all(e.message.acked for e in events)  # what acks.py exists to prevent


def test_a_held_batch_cut_short_stays_unacknowledged() -> None:
    events = [delivered(n) for n in range(3)]
    hold(events)
    stream_acks(events)
    assert not any(e.message.acked for e in events)


def test_only_released_events_are_acknowledged() -> None:
    events = [delivered(n) for n in range(4)]
    hold(events)
    release(events[:2])  # decided; the other two belonged to a revoked partition
    stream_acks(events)
    assert [e.message.acked for e in events] == [True, True, False, False]
