"""The worker's readers of the audit log decode on its event loop, and let it run as they go."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka import TopicPartition

from gateway.contract.codec import Codec, DecodeError
from gateway.contract.models import AuditRecord
from gateway.contract.schemas import SchemaSet, default_schema_dir
from gateway.core.context import Context
from gateway.core.messages import InputRecord
from gateway.core.pipeline import process_batch
from gateway.kafka.reading import apply_until
from gateway.sdk.scenario import Traffic, build_world
from gateway.settings import Settings
from gateway.shell import audit_tail
from gateway.shell.audit_tail import AuditLogMismatch, AuditTail, _Window
from gateway.shell.checkpoint_watch import CheckpointWatch
from tests.support.aio import Prefetched, until
from tests.support.audit_log import CODEC, LOG, Writer
from tests.support.core import NAMES, NOW, context, loaded_state
from tests.vectors.audit.generate import current_records

TP = TopicPartition("audit", 0)

READERS: dict[str, Callable[[Any], Awaitable[object]]] = {
    # a takeover reads back the dedupe window: an hour of decisions at the default
    "audit tail": lambda consumer: AuditTail(Settings(), TP.topic)._read(consumer, TP, 0, consumer.end, 0, 0),
    "checkpoint watch": lambda consumer: CheckpointWatch(Settings(), TP.topic, 1)._read(consumer, TP, 0, consumer.end),
}


@pytest.mark.parametrize("reader", READERS)
def test_a_reader_of_the_audit_log_lets_the_event_loop_run_between_batches(reader: str) -> None:
    """Reading back an hour of a busy partition held the loop for a minute and more: /healthz
    failed, and every other partition's batches waited."""
    consumer = Prefetched(TP, 100, 50)

    async def scenario() -> tuple[int, int]:
        read = asyncio.create_task(cast(Any, READERS[reader](consumer)))
        await asyncio.sleep(0)  # the reader's first step
        await asyncio.sleep(0)  # and the loop's turn after it
        seen = consumer.offset
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read
        return seen, consumer.end

    seen, end = asyncio.run(scenario())
    assert 0 < seen < end, f"the loop ran again only after {seen} of {end} records"


@pytest.mark.parametrize("reader", READERS)
def test_a_reader_of_the_audit_log_reads_to_the_end_it_was_given(reader: str) -> None:
    consumer = Prefetched(TP, 100, 50)

    async def scenario() -> None:
        async with asyncio.timeout(10):
            await READERS[reader](consumer)

    asyncio.run(scenario())
    assert consumer.offset == consumer.end


class _Trickle(Prefetched):
    """A partition whose records come one per fetch, `every` seconds apart, or never (`every` None)."""

    def __init__(self, records: int, every: float | None) -> None:
        super().__init__(TP, 1, records)
        self.every = every

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Any]]:
        if self.every is None:
            await asyncio.sleep(0.01)  # as aiokafka's getmany when its timeout passes with nothing fetched
            return {}
        await asyncio.sleep(self.every)
        return await super().getmany(*partitions, timeout_ms=timeout_ms, max_records=max_records)


def test_a_long_read_is_not_a_stall_but_a_partition_that_gives_nothing_is() -> None:
    """A takeover at thousands of decisions a second reads millions of records back: it must
    not time out as a whole (the worker would exit and start the same read again)."""
    slow, stalled, applied = _Trickle(20, every=0.02), _Trickle(20, every=None), list[int]()

    async def scenario() -> None:
        await apply_until(
            cast(Any, slow), TP, slow.end, lambda record: applied.append(record.offset), stalled_after=0.15
        )
        with pytest.raises(TimeoutError, match="no record for"):
            await apply_until(cast(Any, stalled), TP, stalled.end, lambda record: None, stalled_after=0.15)

    asyncio.run(scenario())
    assert applied == list(range(20)), "the read took longer than stalled_after and still ended"


def test_a_takeover_goes_on_from_the_newest_checkpoint_keeping_only_the_leaves_after_it() -> None:
    writer = Writer(partitions=1)
    for _ in range(5):
        writer.records(0, 20)
        writer.sign()
    writer.records(0, 7)  # decided after the newest checkpoint
    tail, found = AuditTail(Settings(audit_log_name=LOG), TP.topic), _Window(since_ms=0)
    for value in writer.log[0]:
        tail._apply(found, value, 1_000, 0)
    tail._settle(found)
    tree = found.tree(from_log_start=False)
    assert tree is not None and (tree.size, tree.root()) == (107, writer.trees[0].root())
    assert found.checkpoint is not None and found.checkpoint.size == 100
    assert sorted(found.leaves) == list(range(100, 107)), "the leaves before the checkpoint were let go"
    ids = [CODEC.decode(v, AuditRecord).audit_id for v in writer.log[0] if CODEC.record_name(v) == "AuditRecord"]
    assert len(ids) == 107 and all(i in found.decided for i in ids) and found.head.seq == 106


def _read_back(writer: Writer, from_log_start: bool = False) -> tuple[_Window, Any]:
    tail, found = AuditTail(Settings(audit_log_name=LOG), TP.topic), _Window(since_ms=0)
    for value in writer.log[0]:
        tail._apply(found, value, 1_000, 0)
        assert len(found.pending) <= audit_tail.PENDING_LIMIT
    tail._settle(found)
    return found, found.tree(from_log_start)


def test_a_takeover_keeps_the_records_a_checkpoint_overtook() -> None:
    """The checkpoint timer signs the acknowledged head while the next batch's records are in
    flight: in the log, records after the checkpoint's tree can come before the checkpoint."""
    writer = Writer(partitions=1)
    writer.records(0, 20)
    writer.sign()
    writer.records(0, 7)
    log = writer.log[0]
    writer.log[0] = [*log[:20], *log[21:26], log[20], *log[26:]]  # records 20-24, then the checkpoint of 20
    found, tree = _read_back(writer)
    assert found.checkpoint is not None and found.checkpoint.size == 20
    assert tree is not None and (tree.size, tree.root()) == (27, writer.trees[0].root())
    assert sorted(found.leaves) == list(range(20, 27)) and found.head.seq == 26


def test_a_log_without_checkpoints_is_read_back_holding_leaves_not_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_tail, "PENDING_LIMIT", 8)
    writer = Writer(partitions=1)
    writer.records(0, 50)
    found, tree = _read_back(writer, from_log_start=True)
    assert tree is not None and (tree.size, tree.root()) == (50, writer.trees[0].root())
    assert found.head.seq == 49 and not found.pending


def test_an_audit_record_whose_schema_begins_otherwise_is_read_in_full(tmp_path: Path) -> None:
    """Avro resolves fields by name, so a release may order them otherwise: the audit and event ids
    are then read from the whole record, never taken from whatever fields come first."""
    release = tmp_path / "released" / "0.0.1"
    release.mkdir(parents=True)
    for path in default_schema_dir().glob("*.avsc"):
        data = json.loads(path.read_text())
        if data["name"] == "AuditRecord":
            data["fields"] = sorted(data["fields"], key=lambda f: f["name"])  # alerts, audit_id, ...
        (release / path.name).write_text(json.dumps(data))
    old = SchemaSet.load(release)
    [current] = current_records(0, 1)
    datum = CODEC.decode(current, AuditRecord).to_avro()
    value = Codec(old).encode_datum("AuditRecord", datum)
    tail, found = AuditTail(Settings(audit_log_name=LOG), TP.topic), _Window(since_ms=0)
    tail.codec = Codec(SchemaSet.load(), [old])
    with pytest.raises(DecodeError):
        tail.codec.leading_strings(value, ("audit_id", "event_id"))
    tail._apply(found, value, 1_000, 0)
    tail._settle(found)
    assert datum["audit_id"] in found.decided and found.head.seq == 0 and sorted(found.leaves) == [0]
    assert datum["event_id"] not in found.decided


def test_a_takeover_that_finds_records_of_a_later_release_stops_rather_than_fork_the_chain(tmp_path: Path) -> None:
    """Review s47: after a rollback, a worker taking over an audit partition skipped the records a
    later release had written in a schema this one does not know, chained after the last it could
    read (seq numbers written twice) and signed checkpoints leaving the later ones out."""
    later = tmp_path / "later"
    later.mkdir()
    for path in default_schema_dir().glob("*.avsc"):
        data = json.loads(path.read_text())
        if data["name"] == "AuditRecord":
            data["fields"].append({"name": "added_later", "type": ["null", "string"], "default": None})
        (later / path.name).write_text(json.dumps(data))
    [current] = current_records(0, 1)
    datum = {**CODEC.decode(current, AuditRecord).to_avro(), "added_later": None}
    value = Codec(SchemaSet.load(later)).encode_datum("AuditRecord", datum)
    tail, found = AuditTail(Settings(audit_log_name=LOG), TP.topic), _Window(since_ms=0)
    tail._apply(found, current, 1_000, 3)
    with pytest.raises(AuditLogMismatch, match=r"audit partition 3 .* offset 17 .* later release"):
        tail._apply(found, value, 1_000, 3, offset=17)
    tail._apply(found, b"not a record of any release", 1_000, 3)  # `audit verify` reports it


# 0.1.0's AuditCheckpoint, as its schemas/AuditCheckpoint.avsc had it (no released schema set holds it).
CHECKPOINT_0_1_0 = {
    "type": "record", "name": "AuditCheckpoint", "namespace": "io.facegate.v1",
    "fields": [
        {"name": "checkpoint_id", "type": "string"}, {"name": "audit_partition", "type": "int"},
        {"name": "seq", "type": "long"}, {"name": "head_hash", "type": "string"},
        {"name": "signed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "key_id", "type": "string"}, {"name": "signature", "type": "bytes"},
    ],
}  # fmt: skip


def test_a_takeover_reads_past_the_checkpoints_0_1_0_wrote(tmp_path: Path) -> None:
    """Review s47: a log begun by 0.1.0 holds its checkpoints, of a schema no released set holds; the
    first version of the check above stopped every worker that took such a partition over."""
    (tmp_path / "AuditCheckpoint.avsc").write_text(json.dumps(CHECKPOINT_0_1_0))
    old = Codec(SchemaSet.load(tmp_path))
    value = old.encode_datum(
        "AuditCheckpoint",
        {"checkpoint_id": "c-1", "audit_partition": 0, "seq": 4, "head_hash": "ab" * 32, "signed_at": NOW,
         "key_id": "k", "signature": b"s" * 64},
    )  # fmt: skip
    assert value[2:10] in audit_tail.EARLIER_RECORDS
    [current] = current_records(0, 1)
    tail, found = AuditTail(Settings(audit_log_name=LOG), TP.topic), _Window(since_ms=0)
    for offset, record in enumerate((current, value)):
        tail._apply(found, record, 1_000, 0, offset)
    tail._settle(found)
    assert found.head.seq == 0


def test_a_takeover_that_finds_checkpoints_of_another_log_name_stops() -> None:
    """Review s47: a chart upgrade that set a new `audit.logName` (0.3.0 signed as the development
    default) left a log that verifies under neither name, without a word from the worker."""
    writer = Writer(partitions=1)
    writer.records(0, 5)
    writer.sign()
    mine = AuditTail(Settings(audit_log_name=LOG), TP.topic)
    for value in writer.log[0]:
        mine._apply(_Window(since_ms=0), value, 1_000, 0)  # its own log's checkpoints: read as ever
    renamed = AuditTail(Settings(audit_log_name="facegate.example/audit"), TP.topic)
    with pytest.raises(
        AuditLogMismatch, match=rf"offset 5 signed as '{LOG}/0'.* signs as log 'facegate.example/audit'"
    ):
        for offset, value in enumerate(writer.log[0]):
            renamed._apply(_Window(since_ms=0), value, 1_000, 0, offset)


def test_a_takeover_knows_every_decision_of_the_window_also_those_named_by_their_place() -> None:
    """Input that cannot be decided is audited under its place in the log (`undecodable:...`): a redo
    of its batch by the partition's next owner is a repeat like any other, not a second record."""
    world = build_world(seed=6, subjects_per_tenant=3)
    state = loaded_state(world)
    item = next(i for i in iter(Traffic(world, seed=1)) if i.capture)
    assert item.capture is not None
    batch = [
        InputRecord(NAMES.captures("lumen"), 0, 0, CODEC.encode(item.capture)),
        InputRecord(NAMES.captures("lumen"), 0, 1, b"not a capture"),
    ]
    first = context(state)
    process_batch(batch, first)
    audits = [o.value or b"" for o in first.result.outputs if o.topic == NAMES.audit]
    assert len(audits) == 2 and any(CODEC.decode(a, AuditRecord).event_id.startswith("undecodable:") for a in audits)
    tail, found = AuditTail(Settings(audit_log_name=LOG), TP.topic), _Window(since_ms=0)
    for value in audits:
        tail._apply(found, value, 1_000, 0)
    redo = Context(state, NAMES, {}, lambda partition, decided: decided in found.decided, NOW, 4)
    process_batch(batch, redo)
    assert redo.result.duplicates == 2 and not redo.result.outputs


class _Gated(Prefetched):
    """A consumer whose fetches wait for `gate`, and which records when it was stopped."""

    def __init__(self) -> None:
        super().__init__(TP, 5, 1)
        self.gate, self.fetching = asyncio.Event(), False
        self.stopped_at: int | None = None

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, self.end)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Any]]:
        self.fetching = True
        await self.gate.wait()
        return await super().getmany(*partitions, timeout_ms=timeout_ms, max_records=max_records)

    async def stop(self) -> None:
        self.stopped_at = self.offset


def test_the_checkpoint_watch_stops_after_the_read_in_flight_and_reads_nothing_after() -> None:
    """The shutdown stopped the watch while the 1 s timer's read waited on a fetch: aiokafka raised
    ConsumerStoppedError in the timer, and the worker exited 1 at an orderly stop."""
    consumer, watch = _Gated(), CheckpointWatch(Settings(), TP.topic, 1)
    watch._consumer = cast(Any, consumer)

    async def scenario() -> tuple[object, object, bool]:
        read = asyncio.create_task(watch.read())
        await until(lambda: consumer.fetching)
        stop = asyncio.create_task(watch.stop())
        for _ in range(20):
            await asyncio.sleep(0)
        stopped_early = stop.done()
        consumer.gate.set()
        first = await read
        await stop
        return first, await watch.read(), stopped_early

    first, after, stopped_early = asyncio.run(scenario())
    assert not stopped_early, "the stop did not wait for the read in flight"
    assert first == {} and consumer.stopped_at == consumer.end, "the read finished before the consumer stopped"
    assert after is None and watch._consumer is None, "a read after the stop started a consumer again"
