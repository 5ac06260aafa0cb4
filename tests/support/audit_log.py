"""An audit log as the worker writes it, without Kafka: records, a checkpoint per partition that
moved, a completeness note on partition 0."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.signing import completeness_checkpoint, partition_checkpoint
from gateway.core.audit.tlog import Frontier, leaf_hash
from gateway.core.audit.verify import LogEntry
from gateway.keyring import key_id
from tests.vectors.audit.generate import current_records

CODEC = default_codec()
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LOG = "facegate.test/audit"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@dataclass
class Writer:
    """What the worker writes: records, a checkpoint per partition that moved, a completeness note on 0."""

    partitions: int = 2
    log: dict[int, list[bytes]] = field(default_factory=dict)
    heads: dict[int, ChainHead] = field(default_factory=dict)
    trees: dict[int, Frontier] = field(default_factory=dict)
    signed: dict[int, ChainHead] = field(default_factory=dict)
    at: datetime = T0

    def write(self, partition: int, values: list[bytes]) -> None:
        for value in values:
            record = CODEC.decode(value, AuditRecord)
            self.log.setdefault(partition, []).append(value)
            self.trees.setdefault(partition, Frontier()).append(leaf_hash(value))
            self.heads[partition] = ChainHead(record.seq, record.hash)

    def records(self, partition: int, n: int) -> None:
        head = self.heads.get(partition)
        self.write(partition, current_records(partition, n, head, (head.seq + 1) if head else 0))

    def sign(self, key: Ed25519PrivateKey = KEY) -> None:
        self.at += timedelta(seconds=1)
        for p, head in self.heads.items():
            if self.signed.get(p) != head:
                record, _ = partition_checkpoint(key, key_id(key), LOG, p, head, self.trees[p].copy(), self.at)
                self.log.setdefault(p, []).append(CODEC.encode(record))
                self.signed[p] = head
        listing = [(t.size, t.root()) for t in (self.trees.get(p, Frontier()) for p in range(self.partitions))]
        zero = self.signed.get(0, ChainHead())
        self.log.setdefault(0, []).append(CODEC.encode(completeness_checkpoint(key, key_id(key), LOG, listing, zero,
                                                                               self.at)))  # fmt: skip

    def entries(self) -> list[LogEntry]:
        return [LogEntry(p, offset, v) for p, values in sorted(self.log.items()) for offset, v in enumerate(values)]
