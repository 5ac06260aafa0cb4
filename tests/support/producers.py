"""A stand-in for aiokafka's producer: records each send and acknowledges only when told (or at
once), and tells when something starts waiting for an acknowledgement — the SDK's ordering rule
is tested without a broker."""

from __future__ import annotations

import asyncio
from typing import Any


class Ack(asyncio.Future[None]):
    """An acknowledgement that tells when something starts waiting for it."""

    def __init__(self, waited_on: asyncio.Event) -> None:
        super().__init__()
        self.waited_on = waited_on

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        self.waited_on.set()
        super().add_done_callback(fn, context=context)


class HeldProducer:
    def __init__(self, acknowledged: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []  # (topic, key, value)
        self.acks: list[Ack] = []
        self.waited_on = asyncio.Event()  # someone awaits an acknowledgement
        self.acknowledged = acknowledged

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Ack:
        self.sent.append((topic, key, value))
        ack = Ack(self.waited_on)
        if self.acknowledged:
            ack.set_result(None)
        self.acks.append(ack)
        return ack

    def kinds(self) -> list[str]:
        """The kind of each sent topic (consent, enroll, ...): its name without prefix and owner."""
        return [topic.split(".")[1] for topic, _, _ in self.sent]

    async def blocked_or_done(self, task: asyncio.Task[None]) -> None:
        """Until the task waits for an acknowledgement, or has finished without waiting."""
        waiting = asyncio.create_task(self.waited_on.wait())
        await asyncio.wait([task, waiting], timeout=5, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
