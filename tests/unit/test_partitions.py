"""The worker's partition bookkeeping without Kafka: revocations mid-batch, takeovers, stops."""

from __future__ import annotations

import asyncio

from gateway.core.audit.chain import ChainHead
from gateway.shell.partitions import Partitions, PartitionState
from gateway.shell.recent_ids import RecentIds
from tests.support.aio import until

HEAD = ChainHead(7, "ab" * 32)


def test_a_revocation_waits_for_the_batch_in_flight_and_its_commit_lands_first() -> None:
    async def scenario() -> tuple[ChainHead | None, bool, bool]:
        parts = Partitions()
        await parts.assign([0, 1])
        parts.settle()
        parts.load(0, PartitionState())
        batch_started, kafka_acked = asyncio.Event(), asyncio.Event()
        committed: list[ChainHead] = []

        async def batch() -> None:
            async with parts.lock:
                batch_started.set()
                await kafka_acked.wait()  # produce() awaiting Kafka's acknowledgement
                parts.commit({0: HEAD}, [(0, "e-1")], 1)
                committed.append(parts.states[0].head)

        running = asyncio.create_task(batch())
        await batch_started.wait()
        revoking = asyncio.create_task(parts.revoke([0]))
        await until(lambda: not parts.settled.is_set())  # the revocation began: new batches wait
        waited = not revoking.done()
        kafka_acked.set()
        await asyncio.gather(running, revoking)
        return committed[0], waited, parts.ours(0) or 0 in parts.states

    head, waited, still_held = asyncio.run(scenario())
    assert head == HEAD, "the batch in flight committed before the partition was given up"
    assert waited, "the revocation waited for the batch, and new batches wait for the rebalance to settle"
    assert not still_held


def test_a_revoked_partition_is_not_resurrected_by_a_late_commit_or_checkpoint() -> None:
    async def scenario() -> Partitions:
        parts = Partitions()
        await parts.assign([0])
        parts.load(0, PartitionState(head=HEAD))
        unsigned = parts.unsigned(now=10.0, idle_after=60)  # the checkpoint timer took the heads, then awaited Kafka...
        await parts.revoke([0])  # ...while the partition went to another worker
        parts.mark_signed(unsigned, now=10.0)
        parts.commit({0: ChainHead(8, "cd" * 32)}, [(0, "e-2")], 1)
        return parts

    parts = asyncio.run(scenario())
    assert parts.states == {} and parts.heads() == {}


def test_a_takeover_continues_the_chain_and_dedupe_read_back_from_the_log() -> None:
    async def scenario() -> Partitions:
        parts = Partitions()
        await parts.assign([2, 3])
        return parts

    parts = asyncio.run(scenario())
    assert parts.ours(2) and parts.ours(3) and not parts.ours(0)
    assert parts.unloaded([2, 3]) == [2, 3]
    parts.load(2, PartitionState(head=HEAD, decided=RecentIds({"e-9": 100})))  # what AuditTail read back
    assert parts.unloaded([2, 3]) == [3]
    assert parts.heads() == {2: HEAD} and parts.seen(2, "e-9") and not parts.seen(2, "e-10")
    parts.commit({2: ChainHead(8, "cd" * 32)}, [(2, "e-10")], 200)
    assert parts.heads()[2].seq == 8 and parts.seen(2, "e-10")
    assert parts.unsigned(now=300.0, idle_after=60) == {2: ChainHead(8, "cd" * 32)}
    parts.mark_signed(parts.unsigned(now=300.0, idle_after=60), now=300.0)
    assert parts.unsigned(now=330.0, idle_after=60) == {} and parts.checkpoint_age(now=330.0) == 30.0
    assert parts.unsigned(now=360.0, idle_after=60) == {2: ChainHead(8, "cd" * 32)}, "an idle chain is signed again"
    parts.forget_before(150)  # both were decided in one span: remembered longer, never for less
    assert parts.seen(2, "e-9") and parts.seen(2, "e-10")
    parts.forget_before(201)
    assert not parts.seen(2, "e-9") and not parts.seen(2, "e-10")


def test_a_stop_decides_nothing_new_and_waits_for_the_batch_in_flight() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        parts = Partitions()
        await parts.assign([0])
        in_flight, finish = asyncio.Event(), asyncio.Event()

        async def batch() -> None:
            async with parts.lock:
                in_flight.set()
                await finish.wait()

        running = asyncio.create_task(batch())
        await in_flight.wait()
        draining = asyncio.create_task(parts.drain(timeout=60))
        await until(lambda: parts.stopping)
        stopped_deciding = not parts.ours(0) and not draining.done()
        finish.set()
        drained = await draining
        await running
        return stopped_deciding, drained, parts.ours(0)

    stopped_deciding, drained, ours = asyncio.run(scenario())
    assert stopped_deciding and drained and not ours


def test_a_stop_gives_up_on_a_batch_stuck_past_its_bound() -> None:
    async def scenario() -> bool:
        parts = Partitions()
        await parts.lock.acquire()  # a batch stuck on an unreachable Kafka
        return await parts.drain(timeout=0.01)

    assert asyncio.run(scenario()) is False
