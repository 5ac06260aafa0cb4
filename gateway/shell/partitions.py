"""Which partitions this worker decides, and where each audit partition's chain stands.

Input topics are co-partitioned: partition p of every input belongs to one worker, which alone
appends to audit partition p. Per audit partition the worker keeps one `PartitionState`: the
chain head (read back from the audit log when the partition is first written after start-up or
a rebalance, so a redo continues the chain), the frontier of the partition's RFC 6962 tree beside
it (read back the same way: from the newest checkpoint's published frontier and the records after
it), the decisions (audit ids) made within the dedupe window and the last head it signed. No Kafka here:
the rules below have unit tests of their own.

- Captures, lifecycle records, sweeps, checkpoints and revocations hold `lock` one at a time: a
  revocation waits for the batch (or checkpoint) in flight, so Kafka holds its outputs before a
  new owner reads the chain.
- Events fetched before a revocation wait for `settled`, then are decided only on partitions
  still `ours`; the others are left unacknowledged to their new owner.
- A partition revoked while its batch was in flight is not resurrected by that batch's commit.
- A stop decides nothing new and waits (bounded) for the batch in flight; so does a revocation
  while stopping (Faust closes a stopping app's consumer on one), with the same bound, past which
  the worker exits without leaving the group (worker.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.core.audit.chain import ChainHead
from gateway.core.audit.note import Checkpoint
from gateway.core.audit.tlog import Frontier
from gateway.shell.recent_ids import RecentIds


@dataclass
class PartitionState:
    head: ChainHead = field(default_factory=ChainHead)
    tree: Frontier = field(default_factory=Frontier)  # leaves 0 .. head.seq: always head.seq + 1 of them
    decided: RecentIds = field(default_factory=RecentIds)  # audit ids of the decisions within the dedupe window
    signed: ChainHead | None = None  # the head of the last checkpoint this worker wrote
    signed_at: float | None = None  # when (epoch seconds)
    # When this worker took the chain up (read back from the log): its age counts from here until
    # it first signs it, not from 1970.
    loaded_at: float = field(default_factory=time.time)
    checkpoint: Checkpoint | None = None  # the last v1 checkpoint of this partition, written or read back

    def forget_before(self, cutoff_ms: int) -> int:
        return self.decided.forget_before(cutoff_ms)


class Partitions:
    def __init__(self) -> None:
        self.owned: set[int] = set()  # once a rebalance has settled
        self.states: dict[int, PartitionState] = {}  # audit partitions written since start or rebalance
        self.lock = asyncio.Lock()
        self.settled = asyncio.Event()
        self.stopping = False

    def ours(self, partition: int) -> bool:
        """Whether this worker decides the partition now: it owns it and is not stopping."""
        return partition in self.owned and not self.stopping

    async def revoke(self, partitions: Iterable[int]) -> None:
        self.settled.clear()
        async with self.lock:
            for partition in partitions:
                self.owned.discard(partition)
                self.states.pop(partition, None)

    async def assign(self, partitions: Iterable[int]) -> None:
        async with self.lock:
            self.owned = set(partitions)

    def settle(self) -> None:
        self.settled.set()

    async def drain(self, timeout: float) -> bool:
        """Decide nothing new; True once the batch in flight has ended, False if it outlasted `timeout`."""
        self.stopping = True
        try:
            async with asyncio.timeout(timeout), self.lock:
                return True
        except TimeoutError:
            return False

    def unloaded(self, partitions: Iterable[int]) -> list[int]:
        return sorted(set(partitions) - set(self.states))

    def load(self, partition: int, state: PartitionState) -> None:
        self.states[partition] = state

    def heads(self) -> dict[int, ChainHead]:
        return {partition: state.head for partition, state in self.states.items()}

    def seen(self, partition: int, decided_id: str) -> bool:
        return decided_id in self.states[partition].decided

    def commit(
        self,
        heads: dict[int, ChainHead],
        seen: Iterable[tuple[int, str]],
        now_ms: int,
        leaves: dict[int, list[bytes]] | None = None,
    ) -> None:
        """Kafka holds a decision's outputs: advance the heads and trees (`leaves`: the leaf hashes of
        the audit records written, per partition, in seq order) and remember the audit ids, on the
        partitions still held (a revoked one's next owner reads its head back from the log). A tree
        that does not end where its chain does is dropped, to be read back from the log."""
        for partition, head in heads.items():
            state = self.states.get(partition)
            if state is None:
                continue
            for leaf in (leaves or {}).get(partition, []):
                state.tree.append(leaf)
            state.head = head
            if leaves is not None and state.tree.size != head.seq + 1:
                del self.states[partition]
        for partition, event_id in seen:
            if partition in self.states:
                self.states[partition].decided.add(event_id, now_ms)

    def unsigned(self, now: float, idle_after: float) -> dict[int, ChainHead]:
        """Heads that moved since their last checkpoint, and heads signed longer ago than
        `idle_after`: an idle chain is signed again, so a stalled stream shows as a stale one."""
        return {
            p: s.head
            for p, s in self.states.items()
            if s.head.seq >= 0 and (s.signed != s.head or s.signed_at is None or now - s.signed_at >= idle_after)
        }

    def mark_signed(self, heads: dict[int, ChainHead], now: float) -> None:
        for partition, head in heads.items():
            if partition in self.states:
                self.states[partition].signed, self.states[partition].signed_at = head, now

    def checkpoint_age(self, now: float) -> float:
        """Seconds since the oldest of this worker's newest checkpoints, a chain not signed yet since
        it was taken up counting from then (0 with nothing to sign)."""
        ages = [
            now - (s.signed_at if s.signed_at is not None else s.loaded_at)
            for s in self.states.values()
            if s.head.seq >= 0
        ]
        return max(ages, default=0.0)

    def forget_before(self, cutoff_ms: int) -> None:
        for state in self.states.values():
            state.forget_before(cutoff_ms)
