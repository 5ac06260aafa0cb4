"""The worker's produce path without Kafka: the stall clock behind /readyz, sends in order and
never resent, a producer that is idempotent outside transactions too (issue 20), and a consumer
whose fetches wait for the bytes or the time the settings name (issue 17)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest

from gateway.core.messages import Output
from gateway.shell.stall import StallClock
from gateway.shell.worker import IdempotentProducer, fetching, send_in_order
from tests.support.aio import until


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_oldest_call_in_flight_is_timed() -> None:
    clock = Clock()
    stall = StallClock(clock)
    assert stall.oldest() == 0.0 and not stall.stalled(10)
    with stall.waiting():
        clock.now += 4
        with stall.waiting():
            clock.now += 7
            assert stall.oldest() == 11.0  # the first call, not the newest
            assert stall.stalled(10) and not stall.stalled(11)
        assert stall.oldest() == 11.0
    assert stall.oldest() == 0.0 and not stall.stalled(0)


def test_the_newer_call_counts_once_the_oldest_returned() -> None:
    clock = Clock()
    stall = StallClock(clock)
    first = stall.waiting()
    first.__enter__()
    clock.now += 5
    with stall.waiting():
        clock.now += 2
        first.__exit__(None, None, None)
        assert stall.oldest() == 2.0


def test_a_call_that_raises_or_is_cancelled_stops_counting() -> None:
    stall = StallClock(Clock())
    for error in (RuntimeError, asyncio.CancelledError):
        with pytest.raises(error), stall.waiting():
            raise error
    assert stall.oldest() == 0.0


class FakeProducer:
    """Records what was sent; each send's acknowledgement is a future the test settles."""

    def __init__(self, fail_send_at: int | None = None) -> None:
        self.sent: list[bytes | None] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.fail_send_at = fail_send_at

    async def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None, *_: Any) -> Any:
        if self.fail_send_at == len(self.sent):
            raise faust.exceptions.ProducerSendError("metadata not available")
        self.sent.append(value)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


OUTPUTS = [Output("t.audit", b"k", f"r{i}".encode(), 0) for i in range(5)]


def test_every_record_is_sent_once_in_order_and_the_stall_is_timed_until_acknowledged() -> None:
    async def scenario() -> None:
        clock = Clock()
        stall = StallClock(clock)
        producer = FakeProducer()
        task = asyncio.create_task(send_in_order(producer, OUTPUTS, stall))
        await until(lambda: len(producer.futures) == len(OUTPUTS))
        assert producer.sent == [o.value for o in OUTPUTS]
        clock.now += 30  # Kafka has too few in-sync replicas: the producer retries, the call waits
        assert stall.stalled(10) and not task.done()
        for future in producer.futures:
            future.set_result(None)
        assert await task == []
        assert stall.oldest() == 0.0

    asyncio.run(scenario())


def test_a_failure_is_returned_never_resent() -> None:
    async def scenario() -> None:
        producer = FakeProducer()
        task = asyncio.create_task(send_in_order(producer, OUTPUTS, StallClock(Clock())))
        await until(lambda: len(producer.futures) == len(OUTPUTS))
        for n, future in enumerate(producer.futures):
            future.set_exception(RuntimeError("OutOfOrderSequenceNumber")) if n == 2 else future.set_result(None)
        failed = await task
        assert [type(e) for e in failed] == [RuntimeError]
        assert producer.sent == [o.value for o in OUTPUTS]  # nothing sent twice

        refusing = FakeProducer(fail_send_at=3)
        failed = await send_in_order(refusing, OUTPUTS, StallClock(Clock()))
        assert [type(e).__name__ for e in failed] == ["ProducerSendError"] and len(refusing.sent) == 3

    asyncio.run(scenario())


def test_a_cancelled_acknowledgement_cancels_the_caller() -> None:
    async def scenario() -> None:
        producer = FakeProducer()
        task = asyncio.create_task(send_in_order(producer, OUTPUTS[:2], StallClock(Clock())))
        await until(lambda: len(producer.futures) == 2)
        producer.futures[0].set_result(None)
        producer.futures[1].cancel()  # the producer stopped with the record unsent
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_the_producer_is_idempotent_outside_transactions() -> None:
    async def scenario() -> None:
        app = faust.App("stall-test", broker="kafka://127.0.0.1:1", producer_acks=-1)
        app.transport.Producer = IdempotentProducer  # type: ignore[misc]
        assert not app.in_transaction
        producer = app.producer
        assert isinstance(producer, IdempotentProducer)
        client = producer._new_producer()  # builds, connects to nothing
        assert client._txn_manager is not None, "idempotence on: producer id and sequence numbers"
        assert client._sender._acks == -1

    asyncio.run(scenario())


def test_the_consumer_fetches_with_the_configured_minimum_and_wait() -> None:
    async def scenario() -> None:
        async def nothing(*args: Any) -> None: ...

        app = faust.App("fetch-test", broker="kafka://127.0.0.1:1", consumer_max_fetch_size=1 << 20)
        app.transport.Consumer = fetching(256 << 10, 10)  # type: ignore[misc]
        consumer: Any = app.transport.create_consumer(
            callback=nothing, on_partitions_revoked=nothing, on_partitions_assigned=nothing
        )
        client = consumer._thread._create_worker_consumer(app.transport)  # builds, connects to nothing
        try:
            assert (client._fetch_min_bytes, client._fetch_max_wait_ms) == (256 << 10, 10)
            assert client._max_partition_fetch_bytes == 1 << 20, "Faust's own settings still apply"
        finally:
            await client.stop()

    asyncio.run(scenario())
