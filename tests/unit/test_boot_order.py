"""A worker joins its consumer group only once its feeds have caught up; its web server comes first."""

from __future__ import annotations

import asyncio

import faust

from gateway.settings import Settings
from gateway.shell.feeds import FeedReader
from gateway.shell.worker import LoadedBeforeJoining


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
