"""What the audit topic already says about one partition: where its hash chain and its tree end,
and which decisions (audit ids) it made within the dedupe window.

The worker reads this when it first writes to a partition after start-up or a rebalance. The
log is the truth: after a crash the chain continues from the last record actually written
(redone records appear later as duplicate audit ids, never as a fork), and events decided
before the crash are recognised as repeats. Both used to live in Faust tables; the audit log
already holds the same facts, so a second copy (and its changelog writes) is not needed.

The tree's frontier is rebuilt the same way, without reading the whole partition: the newest
checkpoint carries the frontier at its size (it folds to the signed root), and the records after
it extend it. The read starts at the dedupe window or 64 records back and widens (4x each time)
only until it holds a checkpoint and every record after it: with a checkpoint every second, that
is about a second of traffic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from gateway.contract.codec import HEADER_SIZE, DecodeError, DecodeErrorCode, default_codec
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit import note
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.note import Checkpoint, NoteError
from gateway.core.audit.tlog import Frontier, fold, leaf_hash
from gateway.errors import FaceGateError
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import STALLED_AFTER, apply_until, stop_quietly
from gateway.settings import Settings
from gateway.shell.partitions import PartitionState
from gateway.shell.recent_ids import RecentIds

log = logging.getLogger("facegate")

_CHAINED = frozenset({"seq", "hash"})  # what an audit record after the newest checkpoint tells a takeover
_LEADING = ("audit_id",)  # how every AuditRecord schema so far begins
PENDING_LIMIT = 65_536  # audit records held undecoded (~0.8 KB each) before their leaves are taken


@dataclass
class _Window:
    """What one read of [low, end) found.

    Most of a read is the dedupe window, for which an audit record's audit id is enough:
    it is the record's first field, read without the rest (`Codec.leading_strings`). Its seq and hash
    matter only for the records after the newest usable checkpoint (the tree goes on from its
    frontier) and for the head, so the records since the last checkpoint are kept undecoded
    (`pending`) and read in full only when a checkpoint or the end of the read asks."""

    since_ms: int
    head: ChainHead = field(default_factory=ChainHead)
    decided: RecentIds = field(default_factory=RecentIds)
    leaves: dict[int, bytes] = field(default_factory=dict)
    pending: list[bytes] = field(default_factory=list)  # audit records after `leaves`, in log order
    head_pending: bool = False  # the newest audit record read is in `pending`, not yet in `head`
    checkpoint: Checkpoint | None = None  # the newest checkpoint of this partition with a good frontier
    frontier: Frontier | None = None

    def tree(self, from_log_start: bool) -> Frontier | None:
        """The frontier at head.seq + 1, if this window holds enough to rebuild it (once settled)."""
        if self.frontier is not None and self.checkpoint is not None:
            tree = self.frontier.copy()
        elif (from_log_start and 0 in self.leaves) or self.head.seq < 0:
            tree = Frontier()
        else:
            return None
        while tree.size <= self.head.seq and tree.size in self.leaves:
            tree.append(self.leaves[tree.size])
        return tree if tree.size == self.head.seq + 1 else None


# Schemas of records earlier releases wrote on the audit topic that no reader needs, so no released
# schema set holds them: 0.1.0's AuditCheckpoint (docs/audit-format.md, section 2), skipped as ever.
EARLIER_RECORDS = frozenset({bytes.fromhex("e078b8734dbadacf")})


class AuditLogMismatch(FaceGateError):
    """The audit log holds what this worker must not chain after: records of a later release, or
    checkpoints signed under another log name."""


class AuditTail:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.codec = default_codec()

    async def history(self, partition: int, since_ms: int, stalled_after: float = STALLED_AFTER) -> PartitionState:
        """Chain head, tree and the audit ids of the decisions since `since_ms` (all of them if the window is
        longer). However long the read, it fails only if no record comes for `stalled_after` s."""
        consumer = AIOKafkaConsumer(**aiokafka_config(self.settings), group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, partition)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            if end == 0:
                return PartitionState()
            first = (await consumer.beginning_offsets([tp]))[tp]
            start = (await consumer.offsets_for_times({tp: since_ms}))[tp]
            begin = start.offset if start is not None else end
            # The head must come from the last chained record, even when nothing is recent.
            low = max(first, min(begin, end - 64))
            while True:
                window = await self._read(consumer, tp, low, end, partition, since_ms, stalled_after)
                tree = window.tree(from_log_start=low == 0)
                if tree is not None or low <= first:
                    break
                low = max(first, end - 4 * (end - low))
            state = PartitionState(head=window.head, decided=window.decided)
            if tree is None:
                log.warning("audit partition %d: no checkpoint frontier to continue its tree from", partition)
            else:
                state.tree = tree
            state.checkpoint = window.checkpoint
            return state
        finally:
            await stop_quietly(consumer)

    async def _read(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        low: int,
        end: int,
        partition: int,
        since_ms: int,
        stalled_after: float = STALLED_AFTER,
    ) -> _Window:
        found = _Window(since_ms)

        def apply(record: ConsumerRecord[bytes, bytes]) -> None:
            if record.offset < end:
                self._apply(found, record.value or b"", record.timestamp, partition, record.offset)

        consumer.seek(tp, low)
        await apply_until(consumer, tp, end, apply, stalled_after)
        self._settle(found)
        return found

    def _apply(self, found: _Window, value: bytes, timestamp: int, partition: int, offset: int = -1) -> None:
        try:
            name = self.codec.record_name(value)
            if name == AuditRecord.avro_name:
                if timestamp >= found.since_ms:
                    found.decided.add(self._audit_id(value), timestamp)
                found.pending.append(value)
                found.head_pending = True
                if len(found.pending) >= PENDING_LIMIT:  # no checkpoint for long: hold leaves, not records
                    self._settle(found)
                return
            record = self.codec.decode_any(value) if name == AuditCheckpoint.avro_name else None
        except DecodeError as exc:
            if exc.code is DecodeErrorCode.UNKNOWN_FINGERPRINT and value[2:HEADER_SIZE] not in EARLIER_RECORDS:
                raise AuditLogMismatch(
                    f"audit partition {partition} holds a record at offset {offset} in a schema this release does "
                    "not know, as a later release writes them: chained after the records before it, this worker "
                    "would fork the log. Run the later release (a rollback past a change of the audit record "
                    'is not supported: docs/operations.md, "Upgrades and rollbacks")'
                ) from None
            return  # not ours to judge here: `facegate audit verify` reports it
        if isinstance(record, AuditCheckpoint):
            self._same_log(record, partition, offset)
            self._settle_head(found)
            if found.head.seq < record.seq:
                found.head = ChainHead(record.seq, record.head_hash)
            checkpoint = _checkpoint(record, self.settings.audit_log_name, partition)
            if checkpoint is not None and (found.checkpoint is None or checkpoint.size >= found.checkpoint.size):
                frontier = Frontier(checkpoint.size, list(record.frontier))
                if fold(frontier.hashes) == checkpoint.root:
                    found.checkpoint, found.frontier = checkpoint, frontier
                    # The tree goes on from this frontier: the records before it are not needed
                    # again (an hour of a busy partition is millions of them).
                    self._after(found, checkpoint.size)

    def _same_log(self, record: AuditCheckpoint, partition: int, offset: int) -> None:
        """A checkpoint of another log name (0.1.0's carry no note): a worker signing under this
        one would leave the log verifiable under neither (the chart's `audit.logName` changed)."""
        log = self.settings.audit_log_name
        origin = record.note.split("\n", 1)[0]
        if record.note and origin not in (note.partition_origin(log, partition), note.completeness_origin(log)):
            raise AuditLogMismatch(
                f"audit partition {partition} holds a checkpoint at offset {offset} signed as {origin[:200]!r}, "
                f"and this worker signs as log {log!r} (FACEGATE_AUDIT_LOG_NAME, the chart's audit.logName): a "
                "log is verified under one name. Set the name its checkpoints were signed under (0.3.0's chart "
                "signed as facegate.local/audit)"
            )

    def _audit_id(self, value: bytes) -> str:
        """The record's audit id (what its repeats are known by): its first field in every release
        so far, read alone; from the whole record if a schema ever begins otherwise (raises
        DecodeError if neither reads)."""
        try:
            [decided_id] = self.codec.leading_strings(value, _LEADING)
        except DecodeError:
            decided_id = self.codec.decode_fields(value, frozenset(_LEADING))["audit_id"]
        return str(decided_id)

    def _chained(self, value: bytes) -> tuple[int, str] | None:
        try:
            fields = self.codec.decode_fields(value, _CHAINED)
        except DecodeError:
            return None
        return fields["seq"], fields["hash"]

    def _settle_head(self, found: _Window) -> None:
        """The head from the newest audit record read, if it is not there yet."""
        if found.head_pending and found.pending:
            chained = self._chained(found.pending[-1])
            if chained is not None:
                found.head = ChainHead(*chained)
        found.head_pending = False

    def _settle(self, found: _Window) -> None:
        """Every pending record's leaf, by its seq; the head from the newest."""
        self._settle_head(found)
        for value in found.pending:
            chained = self._chained(value)
            if chained is not None:
                found.leaves[chained[0]] = leaf_hash(value)
        found.pending.clear()

    def _after(self, found: _Window, size: int) -> None:
        """Only the records from seq `size` on. A partition's one owner writes its audit records
        in seq order, but a checkpoint may be written while a batch's records are in flight: the
        newest pending records can come after it in the tree, so they are read back to the first
        that does not (usually at once)."""
        found.leaves = {seq: leaf for seq, leaf in found.leaves.items() if seq >= size}
        keep = len(found.pending)
        while keep > 0 and ((chained := self._chained(found.pending[keep - 1])) is None or chained[0] >= size):
            keep -= 1
        del found.pending[:keep]


def _checkpoint(record: AuditCheckpoint, log_name: str, partition: int) -> Checkpoint | None:
    """The v1 checkpoint of `partition` a record carries, if any (our own log: not verified here)."""
    if not record.note.startswith(note.partition_origin(log_name, partition) + "\n"):
        return None
    try:
        checkpoint = Checkpoint.parse(note.parse(record.note.encode()).text)
        if len(record.frontier) != checkpoint.size.bit_count():
            return None
    except NoteError:
        return None
    return checkpoint
