"""Verify an audit stream offline: every partition's hash chain, sequence and signed checkpoints.

Per partition, in log order, each record must hash to its `hash`, carry the next seq and link
to the previous record's hash; each checkpoint must carry a valid signature from a known key
and name a (seq, hash) that is on the chain. Anything else is tampering: a flipped byte, a
deleted record (a gap), a reordered pair or a forged insertion (a broken link), a forged or
altered checkpoint. At-least-once reprocessing shows up differently: the same audit id appears
again, further down a chain that stays intact; those are reported as duplicates, not errors.
Records after a partition's last checkpoint are reported as not yet covered by a signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.contract.codec import Codec, DecodeError
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit.chain import GENESIS, record_hash
from gateway.core.audit.signing import checkpoint_is_signed


@dataclass(frozen=True)
class LogEntry:
    """One record of the audit topic as read: where it was, and its bytes."""

    partition: int
    offset: int
    value: bytes


@dataclass
class PartitionReport:
    partition: int
    records: int = 0
    distinct_audit_ids: int = 0
    duplicates: int = 0
    checkpoints: int = 0
    covered_seq: int = -1
    head_seq: int = -1
    problems: list[str] = field(default_factory=list)

    @property
    def uncovered(self) -> int:
        return max(0, self.head_seq - self.covered_seq)


@dataclass
class VerifyReport:
    partitions: dict[int, PartitionReport] = field(default_factory=dict)

    @property
    def tampered(self) -> bool:
        return any(p.problems for p in self.partitions.values())

    @property
    def problems(self) -> list[str]:
        return [f"partition {p.partition}: {problem}" for p in self.partitions.values() for problem in p.problems]

    @property
    def duplicates(self) -> int:
        return sum(p.duplicates for p in self.partitions.values())

    @property
    def uncovered(self) -> int:
        return sum(p.uncovered for p in self.partitions.values())


def verify_audit_log(
    entries: Iterable[LogEntry], codec: Codec, public_keys: dict[str, Ed25519PublicKey]
) -> VerifyReport:
    report = VerifyReport()
    heads: dict[int, tuple[int, str]] = {}
    chains: dict[int, dict[int, str]] = {}
    seen_ids: dict[int, set[str]] = {}
    for entry in sorted(entries, key=lambda e: (e.partition, e.offset)):
        part = report.partitions.setdefault(entry.partition, PartitionReport(entry.partition))
        where = f"offset {entry.offset}"
        try:
            record = codec.decode_any(entry.value)
        except DecodeError as exc:
            part.problems.append(f"{where}: unreadable record ({exc.code})")
            continue
        seq, head = heads.get(entry.partition, (-1, GENESIS))
        chain = chains.setdefault(entry.partition, {})
        if isinstance(record, AuditCheckpoint):
            part.checkpoints += 1
            if record.audit_partition != entry.partition:
                part.problems.append(f"{where}: checkpoint for partition {record.audit_partition} found here")
            elif not checkpoint_is_signed(record, public_keys):
                part.problems.append(f"{where}: checkpoint signature invalid or key {record.key_id} unknown")
            elif chain.get(record.seq, GENESIS if record.seq == -1 else None) != record.head_hash:
                part.problems.append(f"{where}: signed head seq {record.seq} does not match the chain")
            else:
                part.covered_seq = max(part.covered_seq, record.seq)
            continue
        if not isinstance(record, AuditRecord):
            part.problems.append(f"{where}: a {record.avro_name} has no place on the audit topic")
            continue
        part.records += 1
        if record_hash(record) != record.hash:
            part.problems.append(f"{where}: seq {record.seq} content does not match its hash (altered)")
            continue
        if record.seq != seq + 1:
            gap = "missing" if record.seq > seq + 1 else "repeated or reordered"
            part.problems.append(f"{where}: seq {record.seq} follows seq {seq} ({gap} records)")
        elif record.prev_hash != head:
            part.problems.append(
                f"{where}: seq {record.seq} does not link to the previous record (inserted or reordered)"
            )
        heads[entry.partition] = (record.seq, record.hash)
        chain[record.seq] = record.hash
        part.head_seq = record.seq
        ids = seen_ids.setdefault(entry.partition, set())
        if record.audit_id in ids:
            part.duplicates += 1
        else:
            ids.add(record.audit_id)
            part.distinct_audit_ids += 1
    return report
