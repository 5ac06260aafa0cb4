"""Acknowledging a consumed event only once it is decided.

Faust acknowledges an event when its stream's generator moves past it *or is closed*, and a
graceful stop cancels the agents before the consumer's final commit. An agent cancelled half-way
through a batch would therefore have the batch acknowledged and committed undecided: lost, as
the partition's next owner resumes after it. So an agent holds one extra reference on each event
while deciding it and gives it back only for the events it decided; an event it leaves (cancelled,
or its partition revoked meanwhile) is never acknowledged, and its next owner decides it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from faust.types import Message


class Delivered(Protocol):
    """What a stream hands an agent: a Faust event, with the consumed message behind it."""

    @property
    def message(self) -> Message: ...


def hold(events: Iterable[Delivered]) -> None:
    """Keep these events unacknowledged whatever the stream does, until `release`."""
    for event in events:
        event.message.incref()


def release(events: Iterable[Delivered]) -> None:
    """These events are decided: the stream's own acknowledgement may now take effect."""
    for event in events:
        event.message.decref()
