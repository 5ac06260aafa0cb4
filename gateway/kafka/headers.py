"""Kafka records whose header keys are not UTF-8: read like any other record, never fatal.

Kafka's protocol calls a header key a string, but the broker stores its bytes unchecked (its own
Java client reads invalid bytes as U+FFFD), so any producer can write one that is not UTF-8.
aiokafka 0.14's record readers decode header keys strictly: the C one
(aiokafka/record/_crecords/default_records.pyx, DefaultRecordBatch._read_msg:
`h_key.decode("utf-8")`) and the Python one (aiokafka/record/default_records.py,
_DefaultRecordBatchPy._read_msg, which wraps the error in a CorruptRecordException). The error
left the consumer's fetcher (aiokafka/consumer/fetcher.py, PartitionRecords._unpack_records) at
every read of the partition: Faust's consumer ended the worker, the feed reader's catch-up of a
compacted topic ended every worker that started, a CLI reading the topic failed. And the error's
repr holds the key's bytes, however long.

FaceGate reads no header. `install()`, called once when a FaceGate process starts (gateway/cli,
for every command and so the worker), makes every aiokafka consumer of the process read such a
batch again, that batch only, with aiokafka's Python reader decoding header keys as Kafka's Java
client does (each invalid byte sequence becomes U+FFFD). Its records then go on like any other:
a capture is decided on its key and value, a registry record applied or ignored on its value. A
warning says where the batch is (topic, partition, offsets, how many records), never the header's
bytes; the decode error, which holds them, is dropped unlogged.

Every other batch is read by aiokafka's C reader as before, into a list when the fetcher takes
its first record. Measured through aiokafka's fetcher (bench/PROFILES.md, "Header keys"): about
1 us more per batch of one record (a capture's decision costs 0.5-2.5 CPU-ms), nothing
measurable per record from 16 records a batch; a batch read again costs ~5.5 us a record.

A batch whose structure is broken (lengths, counts) still fails as aiokafka fails it: Apache Kafka
checks that structure when a batch is produced, not the bytes of a header key.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatch, _DefaultRecordBatchPy, _DefaultRecordPy
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import decode_varint

log = logging.getLogger("facegate.kafka")

_BATCH_START = struct.Struct(">qi")  # BaseOffset, then the length of the rest: a batch of any magic
_V2_BATCHES = (DefaultRecordBatch, _DefaultRecordBatchPy)  # the C reader's, or the Python one's alone


class LenientBatch(_DefaultRecordBatchPy):  # type: ignore[misc]  # final only to aiokafka's typing
    """One record batch (magic 2) read by aiokafka's Python reader, header keys decoded as Kafka's
    Java client decodes them. `_read_msg` is aiokafka 0.14's but for that decoding (and a count of
    the records it changed); the rest (header, decompression, record count, CRC) is aiokafka's.
    The unit test reads batches with both this and aiokafka's own readers and compares."""

    def __init__(self, buffer: bytes | bytearray | memoryview) -> None:
        super().__init__(buffer)
        self.replaced = 0  # records read so far with a header key that is not UTF-8

    def _read_msg(self, decode_varint: Callable[[bytearray, int], tuple[int, int]] = decode_varint) -> Any:
        # Record: Length, Attributes, TimestampDelta, OffsetDelta (varints), Key and Value (varint
        # length, -1 for null, then bytes), Headers: a varint count of [Key (string), Value (bytes)].
        buffer: bytearray = self._buffer
        pos: int = self._pos  # type: ignore[has-type]  # aiokafka sets it from a Struct's size
        length, pos = decode_varint(buffer, pos)
        start = pos
        _, pos = decode_varint(buffer, pos)  # attributes: none defined for a record
        ts_delta, pos = decode_varint(buffer, pos)
        appended = self.timestamp_type == self.LOG_APPEND_TIME  # by the broker: the batch's time for all
        timestamp = self.max_timestamp if appended else self.first_timestamp + ts_delta
        offset_delta, pos = decode_varint(buffer, pos)
        key, pos = _nullable_bytes(buffer, pos, decode_varint)
        value, pos = _nullable_bytes(buffer, pos, decode_varint)
        count, pos = decode_varint(buffer, pos)
        if count < 0:
            raise CorruptRecordException(f"Found invalid number of record headers {count}")
        headers: list[tuple[str, bytes | None]] = []
        replaced = False
        for _ in range(count):
            key_len, pos = decode_varint(buffer, pos)
            if key_len < 0:
                raise CorruptRecordException(f"Invalid negative header key size {key_len}")
            raw = bytes(buffer[pos : pos + key_len])
            pos += key_len
            try:
                h_key = raw.decode("utf-8")
            except UnicodeDecodeError:  # holds `raw`: dropped here, never logged
                h_key = raw.decode("utf-8", "replace")
                replaced = True
            h_value, pos = _nullable_bytes(buffer, pos, decode_varint)
            headers.append((h_key, h_value))
        if pos - start != length:
            raise CorruptRecordException(f"Invalid record size: expected to read {length} bytes, read {pos - start}")
        self._pos = pos
        self.replaced += replaced
        return _DefaultRecordPy(self.base_offset + offset_delta, timestamp, self.timestamp_type, key, value, headers)


def _nullable_bytes(
    buffer: bytearray, pos: int, decode_varint: Callable[[bytearray, int], tuple[int, int]]
) -> tuple[bytes | None, int]:
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    return bytes(buffer[pos : pos + size]), pos + size


class FetchedRecords:
    """aiokafka's MemoryRecords over one partition's fetched bytes (its C reader unless
    AIOKAFKA_NO_EXTENSIONS is set), each v2 batch handed to the fetcher as a `_Batch`; the bytes
    are kept to read a batch again."""

    __slots__ = ("_data", "_records", "where")

    def __init__(self, data: bytes) -> None:
        self._records = MemoryRecords(data)  # aiokafka's own: install() replaces only the fetcher's name
        self._data = data
        self.where = "a topic"  # "topic[partition]", once the fetcher has said (NamedPartitionRecords)

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        return _Batch(batch, self) if isinstance(batch, _V2_BATCHES) else batch

    def read_leniently(self, base_offset: int) -> list[Any]:
        """The records of the batch at `base_offset`, read again by LenientBatch."""
        data, pos = memoryview(self._data), 0
        while pos + _BATCH_START.size <= len(data):
            offset, length = _BATCH_START.unpack_from(data, pos)
            end = pos + _BATCH_START.size + length
            if offset == base_offset:
                batch = LenientBatch(data[pos:end])
                records = list(batch)
                log.warning(
                    "%s, offsets %d-%d: %d record(s) with a header key that is not UTF-8, read with U+FFFD for its "
                    "invalid bytes; FaceGate reads no header: taken on key and value like any other record",
                    self.where, base_offset, batch.next_offset - 1, batch.replaced,
                )  # fmt: skip
                return records
            pos = end
        raise CorruptRecordException(f"{self.where}: the batch at offset {base_offset} is not in the fetched data")


class _Batch:
    """A batch of aiokafka's reader, read into a list when the fetcher iterates it; if a header
    key is not UTF-8, read again by LenientBatch. Everything else is the batch's own."""

    __slots__ = ("_batch", "_fetched", "_records")

    def __init__(self, batch: Any, fetched: FetchedRecords) -> None:
        self._batch = batch
        self._fetched = fetched
        self._records: Iterator[Any] | None = None

    # What the fetcher asks of a batch, forwarded as such: a lookup through __getattr__ fails first
    # (an AttributeError each time), which tripled the wrapper's cost for a batch of one record.
    def validate_crc(self) -> Any:
        return self._batch.validate_crc()

    @property
    def base_offset(self) -> Any:
        return self._batch.base_offset

    @property
    def next_offset(self) -> Any:
        return self._batch.next_offset

    @property
    def is_control_batch(self) -> Any:
        return self._batch.is_control_batch

    @property
    def is_transactional(self) -> Any:
        return self._batch.is_transactional

    @property
    def producer_id(self) -> Any:
        return self._batch.producer_id

    def __getattr__(self, name: str) -> Any:  # anything else of the batch's
        return getattr(self._batch, name)

    def __iter__(self) -> Iterator[Any]:
        if self._records is None:
            self._records = iter(self._read())
        return self._records

    def __next__(self) -> Any:  # the fetcher reads a control batch's one record with next()
        return next(iter(self))

    def _read(self) -> list[Any]:
        # The errors hold the key's bytes: the batch is read again outside the except clauses, so
        # whatever that raises is not chained to them.
        try:
            return list(self._batch)
        except UnicodeDecodeError:  # the C reader's
            pass
        except CorruptRecordException as exc:  # the Python reader's, naming the decode error
            if not isinstance(exc.__cause__, UnicodeDecodeError):
                raise
        return self._fetched.read_leniently(self._batch.base_offset)


class NamedPartitionRecords(fetcher.PartitionRecords):  # type: ignore[misc]
    """aiokafka's PartitionRecords, telling its FetchedRecords which partition they are."""

    def __init__(self, tp: Any, records: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(records, FetchedRecords):
            records.where = f"{tp.topic}[{tp.partition}]"
        super().__init__(tp, records, *args, **kwargs)


def install() -> None:
    """Make every aiokafka consumer of this process read header keys that are not UTF-8
    (idempotent). Before the first consumer starts fetching: the worker and every CLI command."""
    fetcher.MemoryRecords = FetchedRecords
    fetcher.PartitionRecords = NamedPartitionRecords


def installed() -> bool:
    return fetcher.MemoryRecords is FetchedRecords and fetcher.PartitionRecords is NamedPartitionRecords
