"""Faust's consumer served on the app's event loop (gateway/shell/app_loop.py): no thread, calls are awaits."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import faust
import pytest
from aiokafka.errors import KafkaConnectionError

from gateway.shell.app_loop import OnTheAppLoop
from gateway.shell.worker import fetching


def _consumer(app: faust.App) -> Any:
    async def nothing(*args: Any) -> None: ...

    app.transport.Consumer = fetching(1, 100)  # type: ignore[misc]
    return app.transport.create_consumer(
        callback=nothing, on_partitions_revoked=nothing, on_partitions_assigned=nothing
    )


def test_the_workers_consumer_calls_are_awaited_on_the_apps_loop_and_thread() -> None:
    async def scenario() -> None:
        consumer = _consumer(faust.App("loop-test", broker="kafka://127.0.0.1:1"))
        served: Any = consumer._thread
        assert isinstance(served, OnTheAppLoop)
        assert served.thread_loop is asyncio.get_running_loop() is served.parent_loop
        where: list[tuple[int, asyncio.AbstractEventLoop]] = []

        async def asynchronous(value: int) -> int:
            where.append((threading.get_ident(), asyncio.get_running_loop()))
            return value + 1

        def synchronous(value: int) -> int:
            where.append((threading.get_ident(), asyncio.get_running_loop()))
            return value * 2

        assert await served.call_thread(asynchronous, 1) == 2
        assert await served.call_thread(synchronous, 3) == 6
        assert where == [(threading.get_ident(), asyncio.get_running_loop())] * 2

    asyncio.run(scenario())


def test_a_consumer_that_cannot_start_fails_the_start_and_leaves_the_loop_running() -> None:
    async def scenario() -> None:
        consumer = _consumer(faust.App("loop-test", broker="kafka://127.0.0.1:1"))
        served: Any = consumer._thread
        # The app's own work on the same loop: a task that ends only if something cancels it.
        other = asyncio.create_task(asyncio.Event().wait())
        with pytest.raises(KafkaConnectionError):  # as Faust's thread reports it
            await asyncio.wait_for(served.start(), 60)
        await asyncio.wait_for(served.stop(), 60)
        assert not other.done(), "stopping the consumer cancels none of the app's tasks"
        other.cancel()

    asyncio.run(scenario())
