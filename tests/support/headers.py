"""Record batches whose header key is not UTF-8, as any producer but a Python one can write them:
Kafka calls a header key a string, but the broker stores its bytes unchecked. aiokafka's builders
encode keys from `str`, so a batch is built with a placeholder key of the same length, which is
then overwritten in the batch's bytes, and the batch's CRC made again."""

from __future__ import annotations

import gzip
import struct

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import RecordMetadata

RECORDS_AT = 61  # a v2 batch's header: its records follow
LENGTH_AT, CRC_AT, ATTRIBUTES_AT = 8, 17, 21  # the batch's length (of what follows it), CRC, attributes
GZIP = 0x01


def not_utf8(size: int) -> bytes:
    """`size` bytes that are not UTF-8 anywhere: a lone continuation byte, then ones that never start a character."""
    return (b"\x80" + b"\xff\xfe" * size)[:size]


def placeholder(size: int) -> str:
    """A header key to build with, overwritten afterwards: `size` bytes found nowhere else in a batch."""
    return ("\x7fHK" * size)[:size]


def overwrite_header_key(batch: bytearray, key: bytes) -> bytearray:
    """`batch` (v2, uncompressed) with every header key `placeholder(len(key))` overwritten by `key`."""
    marker = placeholder(len(key)).encode()
    at = batch.find(marker, RECORDS_AT)
    assert at > 0, "the placeholder key is not in the batch"
    while at > 0:
        batch[at : at + len(key)] = key
        at = batch.find(marker, at + len(key))
    return recrc(batch)


def gzipped(batch: bytearray) -> bytearray:
    """`batch` (uncompressed) with its records gzipped, as a compressing producer sends them."""
    out = bytearray(batch[:RECORDS_AT]) + gzip.compress(bytes(batch[RECORDS_AT:]))
    struct.pack_into(">i", out, LENGTH_AT, len(out) - LENGTH_AT - 4)
    (attributes,) = struct.unpack_from(">h", out, ATTRIBUTES_AT)
    struct.pack_into(">h", out, ATTRIBUTES_AT, attributes | GZIP)
    return recrc(out)


def recrc(batch: bytearray) -> bytearray:
    struct.pack_into(">I", batch, CRC_AT, calc_crc32c(bytes(batch[ATTRIBUTES_AT:])))
    return batch


async def send_with_header_key(
    bootstrap_servers: str, topic: str, key: bytes, value: bytes | None, header_key: bytes
) -> RecordMetadata:
    """Produce one record whose only header has the key `header_key`, on the partition Kafka's
    default partitioner gives `key`; Kafka's acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", max_request_size=4 << 20)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        batch = producer.create_batch()
        batch.append(timestamp=None, key=key, value=value, headers=[(placeholder(len(header_key)), b"x")])
        overwrite_header_key(batch._build(), header_key)  # the batch's own buffer: what send_batch sends
        partition = DefaultPartitioner()(key, partitions, partitions)
        sent = await producer.send_batch(batch, topic, partition=partition)
        return await sent
    finally:
        await producer.stop()
