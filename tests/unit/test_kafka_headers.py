"""A record batch whose header key is not UTF-8, on the wire as Kafka stores it: aiokafka's readers
refuse it (the C one and the Python one), and a process with gateway.kafka.headers installed reads
it through aiokafka's own fetcher like any other, with either reader, saying where and never what."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record import memory_records
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder, _DefaultRecordBatchPy
from aiokafka.record.memory_records import _MemoryRecordsPy
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gateway.cli import app
from gateway.kafka import headers
from gateway.kafka.headers import FetchedRecords, LenientBatch, NamedPartitionRecords
from tests.support.headers import gzipped, not_utf8, overwrite_header_key, placeholder, recrc

BAD = not_utf8(3)
TP = TopicPartition("facegate.faces.raw.lumen", 3)
READ_UNCOMMITTED = 0
RECORD_COUNT_AT = 57  # a v2 batch's record count (int32), the last field before its records
Row = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]  # key, value, headers


def batch(base_offset: int, rows: list[Row], timestamp: int = 1_764_000_000_000) -> bytearray:
    """A v2 batch as aiokafka's builder writes it, at `base_offset` as the broker would set it."""
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1, base_sequence=-1,
        batch_size=1 << 24,
    )  # fmt: skip
    for n, (key, value, row_headers) in enumerate(rows):
        builder.append(n, timestamp=timestamp + n, key=key, value=value, headers=row_headers)
    built = bytearray(builder.build())
    built[0:8] = base_offset.to_bytes(8, "big")
    return built


def hostile(base_offset: int, key: bytes = BAD) -> bytearray:
    """Three records, the second with a header key that is not UTF-8 between two that are."""
    return overwrite_header_key(
        batch(base_offset, [
            (b"k0", b"v0", [("trace", b"1")]),
            (b"k1", b"v1", [("trace", b"2"), (placeholder(len(key)), None), ("z", b"")]),
            (None, b"v2", []),
        ]),
        key,
    )  # fmt: skip


def fetched_bytes() -> bytes:
    """What a fetch of one partition returns: a good batch, a bad one, a bad one gzipped, a good one."""
    good: list[Row] = [(b"g", b"x", [("a", b"b")])]
    return bytes(batch(0, good) + hostile(1) + gzipped(hostile(4)) + batch(7, good))


def rows(records: Iterator[Any] | list[Any]) -> list[tuple[Any, ...]]:
    return [(r.offset, r.timestamp, r.timestamp_type, r.key, r.value, list(r.headers), r.checksum) for r in records]


@pytest.fixture(params=["c", "python"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The process's record reader: aiokafka's C one, or its Python one alone (AIOKAFKA_NO_EXTENSIONS)."""
    if request.param == "python":
        monkeypatch.setattr(headers, "MemoryRecords", _MemoryRecordsPy)
        monkeypatch.setattr(memory_records, "DefaultRecordBatch", _DefaultRecordBatchPy)
        return _DefaultRecordBatchPy
    assert DefaultRecordBatch is not _DefaultRecordBatchPy, "aiokafka's C extension is not built"
    return DefaultRecordBatch


@pytest.fixture
def aiokafka_fetcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetcher as aiokafka ships it (a CLI test of this process may have installed the patch)."""
    monkeypatch.setattr(fetcher, "MemoryRecords", memory_records.MemoryRecords)
    monkeypatch.setattr(fetcher, "PartitionRecords", NamedPartitionRecords.__mro__[1])


def consumed(data: bytes) -> list[Any]:
    """Every ConsumerRecord aiokafka's fetcher makes of one partition's fetched bytes."""
    records = fetcher.PartitionRecords(TP, fetcher.MemoryRecords(data), None, 0, None, None, True, READ_UNCOMMITTED)
    return list(records)


def test_aiokafkas_readers_refuse_a_header_key_that_is_not_utf8() -> None:
    """Why the patch exists: if this fails, aiokafka reads such keys itself and it can go. Its
    Python reader wraps the error, bytes and all, in a CorruptRecordException."""
    with pytest.raises(UnicodeDecodeError):
        list(DefaultRecordBatch(bytes(hostile(0))))
    with pytest.raises(CorruptRecordException) as raised:
        list(_DefaultRecordBatchPy(bytes(hostile(0))))
    assert isinstance(raised.value.__cause__, UnicodeDecodeError) and "\\x80" in str(raised.value)


def test_aiokafkas_fetcher_raised_it_out_of_every_read(aiokafka_fetcher: None, reader: type) -> None:
    with pytest.raises((UnicodeDecodeError, CorruptRecordException)):
        consumed(fetched_bytes())


def test_installed_every_record_is_read_in_order_with_the_key_replaced(
    aiokafka_fetcher: None, reader: type, caplog: pytest.LogCaptureFixture
) -> None:
    headers.install()
    assert headers.installed()
    read = consumed(fetched_bytes())
    assert [r.offset for r in read] == list(range(8))
    assert [r.key for r in read] == [b"g", b"k0", b"k1", None, b"k0", b"k1", None, b"g"]
    assert [r.value for r in read] == [b"x", b"v0", b"v1", b"v2", b"v0", b"v1", b"v2", b"x"]
    replaced = BAD.decode("utf-8", "replace")
    assert replaced == "\ufffd" * 3
    assert read[2].headers == read[5].headers == (("trace", b"2"), (replaced, None), ("z", b""))
    assert read[1].headers == (("trace", b"1"),) and read[0].headers == read[7].headers == (("a", b"b"),)
    # The good batches are aiokafka's reader's own; the two bad ones were read again, and said so.
    assert [m.getMessage().split(":")[0] for m in caplog.records] == [
        "facegate.faces.raw.lumen[3], offsets 1-3",
        "facegate.faces.raw.lumen[3], offsets 4-6",
    ]


def test_a_batch_is_the_readers_own_but_for_its_records(reader: type) -> None:
    records = FetchedRecords(bytes(hostile(5)))
    one = records.next_batch()
    assert isinstance(one._batch, reader)
    assert one.validate_crc() and (one.base_offset, one.next_offset) == (5, 8)
    assert (one.is_control_batch, one.is_transactional, one.producer_id) == (False, False, -1)
    assert one.magic == 2  # anything else, from the batch itself
    assert next(one).key == b"k0"  # how the fetcher reads a control batch's one record
    assert not records.has_next() and records.next_batch() is None


def test_the_warning_says_where_never_what(
    aiokafka_fetcher: None, reader: type, caplog: pytest.LogCaptureFixture
) -> None:
    """A 1 MiB header key: the warning is one short line; the bytes are in no log record and no exception."""
    big = not_utf8(1 << 20)
    headers.install()
    with caplog.at_level(logging.DEBUG):
        read = consumed(bytes(hostile(0, big)))
    assert [r.offset for r in read] == [0, 1, 2]
    [warning] = [m for m in caplog.records if m.levelno >= logging.WARNING]
    assert warning.getMessage().startswith("facegate.faces.raw.lumen[3], offsets 0-2: 1 record(s) with a header key")
    assert len(caplog.text) < 1000 and "\\x" not in caplog.text and "\ufffd" not in caplog.text
    assert all(m.exc_info is None for m in caplog.records)


def test_a_broken_batch_fails_as_aiokafka_fails_it(aiokafka_fetcher: None, reader: type) -> None:
    """Only a header key is forgiven (the broker refuses a batch whose structure is broken), and
    the error that ends the read names no header bytes, not even in its context."""
    broken = hostile(0)
    broken[RECORD_COUNT_AT : RECORD_COUNT_AT + 4] = (4).to_bytes(4, "big")  # it holds three
    headers.install()
    with pytest.raises(CorruptRecordException) as raised:
        consumed(bytes(recrc(broken)))
    told = "".join(traceback.format_exception(raised.value))
    assert "UnicodeDecodeError" not in told and "\\x80" not in told


header_rows = st.lists(
    st.tuples(
        st.none() | st.binary(max_size=40),
        st.none() | st.binary(max_size=200),
        st.lists(st.tuples(st.text(max_size=12), st.none() | st.binary(max_size=20)), max_size=4),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(header_rows, st.booleans(), st.booleans(), st.integers(0, 2**40))
def test_the_lenient_reader_reads_any_valid_batch_as_aiokafka_does(
    written: list[Row], compressed: bool, log_append_time: bool, base_offset: int
) -> None:
    built = batch(base_offset, written)
    if log_append_time:  # set by the broker: every record then has the batch's max timestamp
        built[22] |= 0x08
        recrc(built)
    if compressed:
        built = gzipped(built)
    expected = rows(list(DefaultRecordBatch(bytes(built))))
    assert rows(list(LenientBatch(bytes(built)))) == expected
    assert rows(list(_DefaultRecordBatchPy(bytes(built)))) == expected
    assert rows(list(FetchedRecords(bytes(built)).next_batch())) == expected


def test_every_command_installs_it(aiokafka_fetcher: None) -> None:
    assert not headers.installed()
    result = CliRunner().invoke(app, ["audit", "verify", "--help"])
    assert result.exit_code == 0, result.output
    assert headers.installed()
