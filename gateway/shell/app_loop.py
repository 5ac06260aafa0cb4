"""Faust's Kafka consumer on the worker's own event loop, not in a thread of its own.

Faust 0.15.3 runs aiokafka's consumer in a mode `ServiceThread` with a second event loop, and
every call the app makes of it (each fetch, each commit, each offset lookup) crosses between the
two loops: queued, the other loop woken through its self-pipe, the answer sent back the same way.
Under a paced load a fetch returns a few records every few milliseconds, and each crossing costs
the two threads their wake-ups and a wait for the interpreter lock the deciding thread holds
(bench/PROFILES.md). Here the consumer is the same service, started as a task on the app's loop,
and a call is a plain await. What a thread bought, fetches running while a batch is decided, the
interpreter lock took back: the deciding thread holds it but for the 1:N kernel's passes.

The rebalance listener's callbacks, which Faust hands from the consumer thread to the app's loop
through a method queue, are awaited directly: the loop is the same. The group's heartbeats run on
this loop too: a batch is decided in slices of about 0.1 s (turns.py), far inside the session
timeout (30 s by default). Measured alternated with the thread at 1k, 100k and 1M enrolled: the p99
of a paced capture lower in 15 of 16 windows, the CPU per decision about the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode import Service
from mode.utils.futures import maybe_async


class OnTheAppLoop(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer "thread", served on the loop it was made on (the app's)."""

    def __init__(self, consumer: Any, *, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(consumer, loop=loop, thread_loop=loop, **kwargs)
        self._serving: asyncio.Future[None] | None = None

    async def start(self) -> None:
        # ServiceThread.start, without the thread: `_serve` starts the service (the aiokafka
        # consumer), sets `_thread_running` once started, and stops it once `stop` sets _stopped.
        assert not self._thread_started.is_set()
        self._thread_started.set()
        self._thread_running = asyncio.get_running_loop().create_future()
        self._serving = asyncio.ensure_future(self._serve())
        try:
            await self._thread_running
        finally:
            self._thread_running = None

    async def stop(self) -> None:
        if self._started.is_set():
            await Service.stop(self)  # waits for _serve's shutdown (ServiceThread.wait_for_shutdown)
        if self._serving is not None:
            await asyncio.wait([self._serving])
            if not self._serving.cancelled():
                self._serving.exception()  # a crash was the start's to raise (as the thread's was): not again

    async def call_thread(self, fun: Any, *args: Any, **kwargs: Any) -> Any:
        return await maybe_async(fun(*args, **kwargs))

    async def cast_thread(self, fun: Any, *args: Any, **kwargs: Any) -> None:
        self.add_future(maybe_async(fun(*args, **kwargs)))

    def _stopped_set(self) -> None:
        self._stopped.set()

    def set_shutdown(self) -> None:
        self._shutdown.set()

    @Service.task
    async def _thread_keepalive(self) -> None:
        return None  # mode's timer that keeps a thread's own loop scheduled: there is no second loop

    async def _gather_remaining_tasks(self) -> None:
        return None  # ServiceThread cancels every task of its loop on shutdown: this one is the app's

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.consumer.on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        await self.consumer.on_partitions_assigned(assigned, generation_id)
