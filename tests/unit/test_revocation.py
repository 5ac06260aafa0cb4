"""A worker gives up a partition only once its batch in flight has finished, stopping or not.

Faust 0.15.3 closes a stopping app's consumer at once when a rebalance revokes its partitions, and
sends no revocation signal: a worker draining on SIGTERM while another left the group had its
partitions handed on with a batch still writing, and their next owner's redo forked the audit log
(reproduced on Apache Kafka with three workers)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from faust.types import TP

import gateway.shell.worker as worker_module
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.tlog import leaf_hash
from gateway.core.messages import Output
from gateway.shell.partitions import PartitionState
from gateway.shell.worker import Worker
from tests.support.worker import unstarted_worker


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Worker:
    return unstarted_worker(tmp_path, monkeypatch, ["acme"])


def test_a_stopping_worker_gives_up_its_partitions_only_after_the_batch_in_flight(worker: Worker) -> None:
    asyncio.run(_stopping(worker))


async def _stopping(worker: Worker) -> None:
    app, partitions = worker.app, worker.partitions
    await partitions.assign({0, 1})
    happened: list[str] = []
    app._on_rebalance_when_stopped = lambda: happened.append("consumer closed")  # type: ignore[method-assign]
    in_flight, release = asyncio.Event(), asyncio.Event()

    async def batch() -> None:
        async with partitions.lock:
            in_flight.set()
            await release.wait()
            happened.append("batch written")

    writing = asyncio.create_task(batch())
    await in_flight.wait()
    app._stopped.set()  # SIGTERM: the app is stopping (its drain is waiting for the same batch)
    revoked = {TP(worker.names.captures("lumen"), 0)}
    revocation = asyncio.ensure_future(app.consumer._on_partitions_revoked(revoked))  # as the rebalance calls it
    for _ in range(20):  # the revocation runs as far as it can while the batch holds the lock
        await asyncio.sleep(0)
    assert happened == [] and not revocation.done(), "nothing handed on while the batch is in flight"
    release.set()
    await asyncio.wait_for(asyncio.gather(writing, revocation), 10)
    assert happened == ["batch written", "consumer closed"]
    assert partitions.owned == {1} and not partitions.ours(0)


class Exited(Exception):
    pass


def test_a_batch_stuck_past_the_stops_bound_ends_the_worker_without_leaving_the_group(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kafka unreachable: the revocation waits as long as the stop's own wait (DRAIN_SECONDS), not
    # for ever; then leaving the group would hand the partitions on while the producer still
    # retries the batch. The process ends instead, and the group waits out its session.
    monkeypatch.setattr(worker_module, "DRAIN_SECONDS", 0.2)
    codes: list[int] = []

    def exit_now(code: int) -> None:
        codes.append(code)
        raise Exited

    monkeypatch.setattr(os, "_exit", exit_now)

    async def stuck() -> None:
        closed: list[str] = []
        worker.app._on_rebalance_when_stopped = lambda: closed.append("closed")  # type: ignore[method-assign]
        holding = asyncio.Event()

        async def batch() -> None:
            async with worker.partitions.lock:
                holding.set()
                await asyncio.Event().wait()  # never acknowledged

        writing = asyncio.create_task(batch())
        await holding.wait()
        worker.app._stopped.set()
        revoked = {TP(worker.names.captures("lumen"), 0)}
        with pytest.raises(Exited):
            await asyncio.wait_for(worker.app.consumer._on_partitions_revoked(revoked), 5)
        assert codes == [worker_module.CRASH_EXIT_CODE] and closed == [], "the group is not left"
        writing.cancel()

    asyncio.run(stuck())


def test_checkpoints_are_signed_under_the_batch_lock_and_not_by_the_timer_once_stopping(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkpoint in flight at a revocation landed after the next owner's (a log going back, to a
    # verifier); once stopping, a timer's checkpoint stuck on Kafka held the lock past the stop.
    produced: list[list[Output]] = []

    async def produce(outputs: list[Output], timed: object = None) -> None:
        produced.append(outputs)

    monkeypatch.setattr(worker, "produce", produce)

    async def signing() -> None:
        partitions = worker.partitions
        await partitions.assign({0})
        partitions.load(0, PartitionState())
        partitions.commit({0: ChainHead(0, "a" * 64)}, [], 0, {0: [leaf_hash(b"record")]})
        async with partitions.lock:  # a batch in flight
            timer = asyncio.create_task(worker.sign_heads())
            for _ in range(20):
                await asyncio.sleep(0)
            assert not timer.done() and produced == [], "a checkpoint waits for the batch"
        await asyncio.wait_for(timer, 5)
        [[checkpoint]] = produced
        assert checkpoint.topic == worker.names.audit and checkpoint.partition == 0
        partitions.commit({0: ChainHead(1, "b" * 64)}, [], 0, {0: [leaf_hash(b"next")]})
        partitions.stopping = True
        await worker.sign_heads()
        assert len(produced) == 1, "the timer signs nothing once stopping"
        await worker.sign_heads(final=True)
        assert len(produced) == 2

    asyncio.run(signing())
