"""Verify an audit stream offline, as docs/audit-format.md specifies (§11 lists the findings).

Per partition, in offset order: every AuditRecord is leaf `seq` of the partition's RFC 6962
tree (its bytes as written) and its seq must increase; every signed checkpoint (a C2SP note
judged against the key set and its keys' lifetimes) must be given by the leaves, starting from
leaf 0 or from an anchor (the frontier of a pruned prefix: the regulator's own, kept from its
last run, or one the writer published with a checkpoint); checkpoints must follow each other in
time and never shrink. The completeness notes on partition 0 must follow each other, and the
newest must list every partition the data holds, and only those. Every record that carries the
0.1.0 hash chain (v0) is also checked as a chain, with its writer schema's fields.

At-least-once reprocessing shows up as the same audit id again further down an intact log:
counted as duplicates, not findings. Records after a partition's newest checkpoint are counted as
not yet covered. Pure: entries in, a report out.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.contract.codec import HEADER_SIZE, MARKER, Codec, DecodeError
from gateway.contract.history import released_schema_sets
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit import note
from gateway.core.audit.anchors import Anchors, KeptHead
from gateway.core.audit.chain import GENESIS
from gateway.core.audit.keyset import KeySet, VerifierKey, check_checkpoint, check_completeness
from gateway.core.audit.legacy import check_chain
from gateway.core.audit.note import Checkpoint, Completeness, check_series
from gateway.core.audit.signing import checkpoint_is_signed
from gateway.core.audit.tlog import Code, Finding, Frontier, fold, leaf_hash

# Records 0.1.0 wrote: its writer never signed notes, so a log of them alone needs none (§6).
_V0_FINGERPRINT = released_schema_sets()[0]["AuditRecord"].fingerprint


@dataclass(frozen=True)
class LogEntry:
    """One record of the audit topic as read: where it was, and its bytes."""

    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class Signed:
    """A verified checkpoint as found on the log: its note, and the frontier published with it."""

    checkpoint: Checkpoint
    note: bytes
    key_id: int
    frontier: Frontier | None


@dataclass
class PartitionReport:
    partition: int
    records: int = 0
    distinct_audit_ids: int = 0
    duplicates: int = 0
    checkpoints: int = 0
    covered_seq: int = -1  # the newest signed checkpoint covers seq 0 .. covered_seq
    head_seq: int = -1
    pruned: int = 0  # leaves below the anchor verification started from
    unverified: int = 0  # records still on the topic below that anchor: no signed root covers them here
    newest: Signed | None = None
    v0_signed_at: datetime | None = None  # the newest 0.1.0 checkpoint counted as coverage
    findings: list[Finding] = field(default_factory=list)

    @property
    def uncovered(self) -> int:
        return max(0, self.head_seq - self.covered_seq)

    @property
    def problems(self) -> list[str]:
        return [f"{f.code}: {f.detail}" for f in self.findings if f.is_error]


@dataclass
class VerifyReport:
    partitions: dict[int, PartitionReport] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # of the log as a whole (completeness, freshness)
    completeness: Completeness | None = None  # the newest verified completeness note
    completeness_note: bytes | None = None
    completeness_key: int | None = None
    now: datetime | None = None

    @property
    def all_findings(self) -> list[tuple[str, Finding]]:
        found = [("log", f) for f in self.findings]
        return found + [(f"partition {p}", f) for p, part in sorted(self.partitions.items()) for f in part.findings]

    @property
    def tampered(self) -> bool:
        return any(f.is_error for _, f in self.all_findings)

    @property
    def problems(self) -> list[str]:
        return [f"{where}: {f.code}: {f.detail}" for where, f in self.all_findings if f.is_error]

    @property
    def duplicates(self) -> int:
        return sum(p.duplicates for p in self.partitions.values())

    @property
    def uncovered(self) -> int:
        return sum(p.uncovered for p in self.partitions.values())

    @property
    def newest_signed_at(self) -> datetime | None:
        times = [p.newest.checkpoint.time for p in self.partitions.values() if p.newest]
        times += [p.v0_signed_at for p in self.partitions.values() if p.v0_signed_at]
        if self.completeness:
            times.append(self.completeness.time)
        return max(times, default=None)

    def kept(self, log: str, before: Anchors | None = None) -> Anchors:
        """What a regulator keeps for its next run: each partition's newest checkpoint and its frontier,
        merged with what was kept `before`: a kept head or completeness note stays unless today's log
        verified a newer one (only call this for a run without findings, where today's heads are
        consistent with the kept ones and never smaller)."""
        heads = dict(before.partitions) if before else {}
        for p, part in self.partitions.items():
            newest = part.newest
            if newest and newest.frontier and (p not in heads or newest.frontier.size >= heads[p].frontier.size):
                heads[p] = KeptHead(newest.note, newest.frontier)
        completeness = self.completeness_note
        if completeness is None and before is not None:
            completeness = before.completeness
        return Anchors(log, heads, completeness)


@dataclass
class _Partition:
    leaves: dict[int, bytes] = field(default_factory=dict)  # seq -> leaf hash
    chained: list[bytes] = field(default_factory=list)  # every record's value, in log order, for the v0 chain
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> v0 hash
    signed: list[Signed] = field(default_factory=list)
    v0_heads: list[AuditCheckpoint] = field(default_factory=list)
    modern: bool = False  # holds a record written after 0.1.0 (whose writer also signs notes)
    seen: set[str] = field(default_factory=set)
    # seq -> recorded_at of records no checkpoint read so far covers: the candidates for "uncovered
    # and older than the maximum age" (§11), dropped as checkpoints cover them to keep memory small
    pending: dict[int, datetime] = field(default_factory=dict)


def verify_audit_log(
    entries: Iterable[LogEntry],
    codec: Codec,
    keys: KeySet,
    anchors: Anchors | None = None,
    now: datetime | None = None,
    max_age: timedelta | None = None,
) -> VerifyReport:
    report = VerifyReport(now=now)
    data: dict[int, _Partition] = {}
    notes: list[tuple[Completeness, bytes, int]] = []
    v0_keys = {_v0_key_id(k.public_key): k for k in keys.keys}
    for entry in sorted(entries, key=lambda e: (e.partition, e.offset)):
        part = report.partitions.setdefault(entry.partition, PartitionReport(entry.partition))
        _read(entry, codec, keys, part, data.setdefault(entry.partition, _Partition()), notes)
    kept = anchors.partitions if anchors else {}
    # 0.1.0 checkpoints cover records only in a log that has no v1 signature at all (today's or kept):
    # otherwise one is a downgraded checkpoint whose note was blanked, and covers nothing.
    v0_covers = not notes and not any(d.signed for d in data.values()) and not kept
    v0_covers = v0_covers and (anchors is None or anchors.completeness is None)
    # The kept completeness note's lines are signed heads today's log must give too (§9), at any time:
    # a fork of a partition whose kept checkpoint was lost still contradicts them.
    heads = list(notes)
    if anchors is not None and anchors.completeness is not None:
        kept_note, _ = check_completeness(anchors.completeness, keys)
        if kept_note is not None:
            heads.append((kept_note, anchors.completeness, 0))
    for p, part in report.partitions.items():
        _check_partition(part, data[p], kept.get(p), heads, v0_keys, v0_covers)
        part.findings += [
            Finding(Code.INCONSISTENT, f"checkpoint of size {s.checkpoint.size} is dated "
                    f"{note.format_time(s.checkpoint.time)}, after the time of verification")
            for s in data[p].signed
            if now is not None and s.checkpoint.time > now + note.CLOCK_SKEW
        ]  # fmt: skip
    if now is not None and max_age is not None:
        for p, part in report.partitions.items():
            _check_uncovered(part, data[p], now - max_age)
    report.findings += [
        Finding(Code.PARTITION_MISSING, f"partition {p} holds {head.frontier.size} leaves by the checkpoint kept "
                "from the last verification but is gone")
        for p, head in sorted(kept.items())
        if p not in report.partitions and head.frontier.size > 0
    ]  # fmt: skip
    _check_completeness(report, data, notes, anchors, keys, now, max_age)
    return report


def _check_uncovered(part: PartitionReport, data: _Partition, before: datetime) -> None:
    """Records no signature covers are not a finding until they are older than the maximum age
    (§11): a log whose checkpoints were all removed (or never signed) is stale, not clean."""
    covered = max(part.covered_seq, max((s.checkpoint.size for s in data.signed), default=0) - 1)
    old = sorted((seq, at) for seq, at in data.pending.items() if seq > covered and at < before)
    if old:
        seq, at = old[0]
        part.findings.append(Finding(Code.STALE, f"{len(old)} records no signature covers are older than the maximum "
                                     f"age, the first seq {seq} recorded at {note.format_time(at)}"))  # fmt: skip


def _v0_key_id(public_key: bytes) -> str:
    """The v0 key id (0.1.0's): the first 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _read(
    entry: LogEntry,
    codec: Codec,
    keys: KeySet,
    part: PartitionReport,
    data: _Partition,
    notes: list[tuple[Completeness, bytes, int]],
) -> None:
    where = f"offset {entry.offset}"
    try:
        record = codec.decode_any(entry.value)
    except DecodeError as exc:
        part.findings.append(Finding(Code.MALFORMED, f"{where}: unreadable record ({exc.code})"))
        return
    if isinstance(record, AuditCheckpoint):
        part.checkpoints += 1
        if not record.note:
            data.v0_heads.append(record)
        elif record.note.startswith(note.completeness_origin(keys.log) + "\n"):
            completeness, found = check_completeness(record.note.encode(), keys)
            part.findings += [Finding(f.code, f"{where}: completeness note: {f.detail}") for f in found]
            if completeness is not None:
                notes.append((completeness, record.note.encode(), _signer(record.note.encode(), keys)))
        else:
            checkpoint, found = check_checkpoint(record.note.encode(), keys)
            part.findings += [Finding(f.code, f"{where}: {f.detail}") for f in found]
            if checkpoint is not None and checkpoint.partition(keys.log) != part.partition:
                part.findings.append(Finding(Code.MALFORMED, f"{where}: a checkpoint of {checkpoint.origin} here"))
            elif checkpoint is not None:
                data.pending = {seq: at for seq, at in data.pending.items() if seq >= checkpoint.size}
                frontier = _frontier(record.frontier, checkpoint)
                data.signed.append(
                    Signed(checkpoint, record.note.encode(), _signer(record.note.encode(), keys), frontier)
                )
        return
    if not isinstance(record, AuditRecord):
        part.findings.append(Finding(Code.MALFORMED, f"{where}: a {record.avro_name} has no place on the audit topic"))
        return
    part.records += 1
    if record.seq <= part.head_seq:
        part.findings.append(
            Finding(
                Code.TAMPERED_RECORD, f"{where}: seq {record.seq} after seq {part.head_seq} (reordered or repeated)"
            )
        )
    else:
        data.leaves[record.seq] = leaf_hash(entry.value)
        data.pending[record.seq] = record.recorded_at
        part.head_seq = record.seq
    if entry.value[len(MARKER) : HEADER_SIZE] != _V0_FINGERPRINT:
        data.modern = True
    data.chained.append(entry.value)  # with an empty hash too: a v0 hash after one is a finding (§2.2)
    if record.hash:
        data.hashes[record.seq] = record.hash
    if record.audit_id in data.seen:
        part.duplicates += 1
    else:
        data.seen.add(record.audit_id)
        part.distinct_audit_ids += 1


def _signer(data: bytes, keys: KeySet) -> int:
    """The key id of the first signature by a key of the set (the note verified, so there is one)."""
    return next(s.key_id for s in note.parse(data).signatures if keys.find(s.name, s.key_id))


def _frontier(hashes: Sequence[bytes], checkpoint: Checkpoint) -> Frontier | None:
    """The published frontier, if it is one and folds to the signed root (then it needs no signature)."""
    try:
        frontier = Frontier(checkpoint.size, list(hashes))
    except ValueError:
        return None
    return frontier if fold(frontier.hashes) == checkpoint.root else None


def _check_partition(
    part: PartitionReport,
    data: _Partition,
    kept: KeptHead | None,
    notes: Sequence[tuple[Completeness, bytes, int]],
    v0_keys: Mapping[str, VerifierKey],
    v0_covers: bool,
) -> None:
    p = part.partition
    # The v0 chain, where records carry it; its pruned start is the tree's to report.
    part.findings += [f for f in check_chain(data.chained) if f.code is not Code.PRUNED]
    _check_v0_heads(part, data, v0_keys, v0_covers)
    # Signed checkpoints follow each other: a time that does not increase is a replay.
    for before, after in itertools.pairwise(data.signed):
        if after.checkpoint.time <= before.checkpoint.time or after.checkpoint.size < before.checkpoint.size:
            part.findings.append(
                Finding(Code.INCONSISTENT, f"checkpoint of size {after.checkpoint.size} at "
                        f"{note.format_time(after.checkpoint.time)} follows one of size {before.checkpoint.size} at "
                        f"{note.format_time(before.checkpoint.time)} (replayed or rewound)")
            )  # fmt: skip
    # Every signed head of this partition, from the log, the completeness notes and the regulator.
    targets: list[tuple[int, bytes, str]] = [
        (s.checkpoint.size, s.checkpoint.root, f"checkpoint {note.format_time(s.checkpoint.time)}") for s in data.signed
    ]
    targets += [
        (c.heads[p][0], c.heads[p][1], f"completeness note {note.format_time(c.time)}")
        for c, _, _ in notes
        if p < len(c.heads)
    ]
    if kept is not None:
        targets.append((kept.checkpoint.size, kept.checkpoint.root, "the checkpoint kept from the last verification"))
    # Two signed heads of one size must have one root, whether or not the leaves below them are
    # still here to check (a completeness line against a checkpoint, today's log against the kept head).
    by_size: dict[int, tuple[bytes, str]] = {}
    for size, root, what in targets:
        first_root, first_what = by_size.setdefault(size, (root, what))
        if root != first_root:
            part.findings.append(Finding(Code.INCONSISTENT, f"the {what} and the {first_what} give size {size} "
                                         "two roots (a fork)"))  # fmt: skip
    newest = max(data.signed, key=lambda s: (s.checkpoint.size, s.checkpoint.time), default=None)
    if kept is not None and newest is not None and kept.checkpoint.size > newest.checkpoint.size:
        part.findings.append(Finding(Code.INCONSISTENT, f"the log went back from the kept size {kept.checkpoint.size} "
                                     f"to {newest.checkpoint.size} (rewound)"))  # fmt: skip
    anchor = _anchor(data, kept)
    if isinstance(anchor, Finding):
        part.findings.append(anchor)
        return
    frontier = anchor.copy() if anchor else Frontier()
    if frontier.size:
        part.pruned = frontier.size
        part.unverified = sum(1 for seq in data.leaves if seq < frontier.size)
        part.findings.append(Finding(Code.PRUNED, f"leaves 0..{frontier.size - 1} pruned before the checkpoint of size "
                                     f"{frontier.size}, covered by its frontier"
                                     + (f"; {part.unverified} records below it are still on the topic, not verified "
                                        "by this run" if part.unverified else "")))  # fmt: skip
    if newest is not None and newest.checkpoint.size >= frontier.size:
        part.newest = newest
        part.covered_seq = newest.checkpoint.size - 1
    for size, root, what in sorted(set(targets)):
        if size < frontier.size:
            continue  # below the anchor: pruned, or checked on an earlier run
        while frontier.size < size and frontier.size in data.leaves:
            frontier.append(data.leaves[frontier.size])
        if frontier.size < size:
            part.findings.append(Finding(Code.MISSING_LEAVES, f"leaf {frontier.size} is absent below the size "
                                         f"{size} of the {what}"))  # fmt: skip
            return
        if frontier.root() != root:
            part.findings.append(
                Finding(Code.TAMPERED_RECORD, f"leaves up to {size - 1} do not give the root of the {what}")
            )
            return
        if part.newest is not None and size == part.newest.checkpoint.size:
            part.newest = Signed(part.newest.checkpoint, part.newest.note, part.newest.key_id, frontier.copy())
    # Count the gaps from the leaves present, never by index: one record with seq 2^40 makes a
    # range too large to walk.
    present = sorted(i for i in data.leaves if i >= frontier.size)
    absent = part.head_seq + 1 - frontier.size - len(present)
    if absent > 0:
        first = next((want for want, got in zip(itertools.count(frontier.size), present) if want != got),
                     frontier.size + len(present))  # fmt: skip
        part.findings.append(Finding(Code.MISSING_LEAVES, f"{absent} leaves absent after the newest checkpoint, "
                                     f"the first {first}"))  # fmt: skip


def _anchor(data: _Partition, kept: KeptHead | None) -> Frontier | Finding | None:
    """Where the tree check starts: leaf 0 if it is there, else the smallest anchor at or above the
    first leaf present (the regulator's own, or a frontier the writer published). With a kept head,
    never above it: a published frontier further on cannot be linked to it, and a history replaced
    below a published checkpoint would look just like retention (§9)."""
    first = min(data.leaves, default=None)
    if first == 0:
        return None
    candidates = [s.frontier for s in data.signed if s.frontier is not None]
    if kept is not None:
        size = kept.frontier.size
        if first is not None and first > size:
            return Finding(Code.MISSING_LEAVES, f"leaves {size}..{first - 1} are absent: the log no longer reaches "
                           f"back to the checkpoint of size {size} kept from the last verification")  # fmt: skip
        candidates = [*(f for f in candidates if f.size <= size), kept.frontier]
    if first is None:  # no record left: only checkpoints, all of whose leaves were pruned
        return max(candidates, key=lambda f: f.size, default=None)
    usable = [f for f in candidates if f.size >= first]
    if not usable:
        return Finding(Code.MISSING_LEAVES, f"leaves 0..{first - 1} are absent and no signed checkpoint's frontier "
                       "covers them")  # fmt: skip
    return min(usable, key=lambda f: f.size)


def _check_v0_heads(part: PartitionReport, data: _Partition, v0_keys: Mapping[str, VerifierKey], covers: bool) -> None:
    """Checkpoints written before 0.2.0: a JSON signature over a chain head (docs/audit-format.md §2.2),
    judged by the key's lifetime (§7) like a note; they count as coverage only where `covers`."""
    for head in data.v0_heads:
        key = v0_keys.get(head.key_id)
        public = {head.key_id: Ed25519PublicKey.from_public_bytes(key.public_key)} if key else {}
        if head.audit_partition != part.partition:
            part.findings.append(Finding(Code.MALFORMED, f"a v0 checkpoint of partition {head.audit_partition}"))
        elif key is None or not checkpoint_is_signed(head, public):
            part.findings.append(Finding(Code.UNKNOWN_KEY, f"v0 checkpoint of seq {head.seq}: no valid signature"))
        elif lifetime := key.findings_at(head.signed_at):
            part.findings += [Finding(f.code, f"v0 checkpoint of seq {head.seq}: {f.detail}") for f in lifetime]
        elif data.hashes.get(head.seq, GENESIS if head.seq == -1 else None) != head.head_hash:
            if head.seq >= min(data.hashes, default=0):
                part.findings.append(Finding(Code.TAMPERED_RECORD, f"v0 checkpoint of seq {head.seq}: not the chain"))
        elif covers:
            part.covered_seq = max(part.covered_seq, head.seq)
            part.v0_signed_at = max(part.v0_signed_at or head.signed_at, head.signed_at)


def _check_completeness(
    report: VerifyReport,
    data: Mapping[int, _Partition],
    notes: Sequence[tuple[Completeness, bytes, int]],
    anchors: Anchors | None,
    keys: KeySet,
    now: datetime | None,
    max_age: timedelta | None,
) -> None:
    series = [c for c, _, _ in notes]
    if anchors is not None and anchors.completeness is not None:
        kept, found = check_completeness(anchors.completeness, keys)
        report.findings += [Finding(f.code, f"kept completeness note: {f.detail}") for f in found]
        if kept is not None:  # today's notes must go on from it; the older ones were checked before
            series = [kept, *(c for c in series if c.time > kept.time)]
            if notes and kept.time > notes[-1][0].time:
                report.findings.append(Finding(Code.INCONSISTENT, "the newest completeness note is older than the "
                                               "one kept from the last verification (rewound)"))  # fmt: skip
    report.findings += check_series(series, now, max_age)
    if notes:
        report.completeness, report.completeness_note, report.completeness_key = notes[-1]
    elif any(d.signed or (d.v0_heads and d.modern) for d in data.values()) or any(
        f.code is Code.STALE for part in report.partitions.values() for f in part.findings
    ):  # signed checkpoints, or records old enough that notes should cover them, but no note
        report.findings.append(
            Finding(Code.PARTITION_MISSING, "no completeness note: partition 0 or its notes are gone")
        )
    if not series:
        newest_at = report.newest_signed_at
        if now is not None and max_age is not None and newest_at is not None and now - newest_at > max_age:
            report.findings.append(Finding(Code.STALE, f"the newest checkpoint is from {note.format_time(newest_at)}"))
        return
    newest = series[-1]
    for p, (size, _) in enumerate(newest.heads):
        d = data.get(p)
        if size > 0 and (d is None or (not d.leaves and not d.signed)):
            report.findings.append(Finding(Code.PARTITION_MISSING, f"partition {p} holds {size} leaves but is gone"))
    report.findings += [
        Finding(Code.PARTITION_MISSING, f"partition {p} has records but no line in the completeness note")
        for p in sorted(data)
        if p >= len(newest.heads) and data[p].leaves
    ]
