"""A worker gives up a partition only once its batch in flight has finished, stopping or not.

Faust 0.15.3 closes a stopping app's consumer at once when a rebalance revokes its partitions, and
sends no revocation signal: a worker draining on SIGTERM while another left the group had its
partitions handed on with a batch still writing, and their next owner's redo forked the audit log
(reproduced on Apache Kafka with three workers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faust.types import TP

import gateway.shell.worker as worker_module
from gateway.settings import Settings
from gateway.shell.runtime import build_runtime
from gateway.shell.worker import Worker


def test_a_stopping_worker_gives_up_its_partitions_only_after_the_batch_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "_faust_replication", lambda settings: 1)  # no broker to count
    asyncio.run(_stopping(Worker(build_runtime(Settings(cache_dir=tmp_path, tenants=["acme"], vendors=["lumen"])))))


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
