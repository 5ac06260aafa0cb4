"""A worker joins its consumer group only once its feeds have caught up; its web server comes first."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import faust
import pytest
from aiokafka import TopicPartition

import gateway.shell.feeds as feeds_module
from gateway.settings import Settings
from gateway.shell.feeds import FeedReader
from gateway.shell.worker import LoadedBeforeJoining
from tests.support.aio import Prefetched, until


def test_the_feeds_start_after_the_web_server_and_just_before_the_consumer() -> None:
    app = faust.App("boot-order-test", broker="kafka://127.0.0.1:1")  # constructed, never started
    feeds = FeedReader(Settings(), {})
    services = list(LoadedBeforeJoining(app, feeds).server())
    assert services.index(feeds) == services.index(app.consumer) - 1
    assert services.index(app.web) < services.index(feeds), "/healthz answers while the feeds load"
    assert services.count(feeds) == 1 and set(faust.App.BootStrategy(app).server()) == set(services) - {feeds}


def test_a_feed_reader_counts_as_started_only_once_caught_up() -> None:
    async def scenario() -> tuple[bool, bool]:
        feeds = FeedReader(Settings(), {})
        started = asyncio.create_task(feeds.on_started())

        async def catch_up() -> bool:  # runs after `started` took its first step (tasks run in order)
            waiting = not started.done()
            feeds.caught_up.set()
            return waiting

        waiting = await asyncio.create_task(catch_up())
        await asyncio.wait_for(started, timeout=5)
        return waiting, started.done()

    assert asyncio.run(scenario()) == (True, True)


def _loading(applied: list[int], consumer: Prefetched) -> FeedReader:
    """A reader that has `consumer`'s records to load and is never caught up."""
    feeds = FeedReader(
        Settings(), {consumer.tp.topic: lambda key, value, partition, offset, ms: applied.append(offset)}
    )
    feeds._consumer = cast(Any, consumer)
    feeds._targets = {consumer.tp: consumer.end + 1}
    return feeds


def test_a_feed_reader_lets_the_event_loop_run_between_the_batches_it_applies() -> None:
    """A reader loading a large gallery must yield by itself, or /healthz and every timer wait
    until it has caught up."""
    consumer, applied = Prefetched(TopicPartition("enrolled", 0), 100, 50), list[int]()

    async def scenario() -> int:
        follow = asyncio.create_task(FeedReader._follow(_loading(applied, consumer)))
        await asyncio.sleep(0)  # the reader's first step
        await asyncio.sleep(0)  # and the loop's turn after it
        seen = len(applied)
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow
        return seen

    seen = asyncio.run(scenario())
    assert 0 < seen < consumer.end, f"the loop ran again only after {seen} of {consumer.end} records"


def test_a_loading_feed_reader_freezes_what_it_applied_as_it_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector's full passes walk only what was loaded since the last freeze (heap.py)."""
    consumer, applied = Prefetched(TopicPartition("enrolled", 0), 100, 50), list[int]()
    frozen_after: list[int] = []
    monkeypatch.setattr(feeds_module, "FREEZE_EVERY", 1_000)

    def freeze(final: bool) -> int:
        frozen_after.append(len(applied))
        return 0

    monkeypatch.setattr(feeds_module, "freeze_loaded", freeze)

    async def scenario() -> None:
        follow = asyncio.create_task(FeedReader._follow(_loading(applied, consumer)))
        await until(lambda: len(applied) >= consumer.end)  # bounded in turns of the loop
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow

    asyncio.run(scenario())
    assert frozen_after == [1_000, 2_000, 3_000, 4_000, 5_000]
