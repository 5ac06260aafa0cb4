"""0.1.0 checkpoints (a JSON signature over a chain head, no note; docs/audit-format.md §2.2): judged
by the key's lifetime (§7), counted as coverage only in a log without any v1 signature, and counted
as signed checkpoints that need a completeness note (§6) unless every record is one 0.1.0 wrote."""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.contract.models import AuditCheckpoint
from gateway.core.audit import note
from gateway.core.audit.keyset import KeySet
from gateway.core.audit.note import raw_public
from gateway.core.audit.signing import sign_checkpoint
from gateway.core.audit.tlog import Code
from gateway.core.audit.verify import LogEntry, VerifyReport, verify_audit_log
from gateway.keyring import key_id
from tests.support.audit_log import CODEC, KEY, LOG, T0, Writer
from tests.vectors.audit.generate import released_records


def keys(revoked_at: datetime | None = None) -> KeySet:
    return KeySet.of(LOG, [(raw_public(KEY.public_key()), None, None, revoked_at)])


def verified(entries: list[LogEntry], keyset: KeySet | None = None, **options: object) -> VerifyReport:
    return verify_audit_log(entries, CODEC, keyset or keys(), **options)  # type: ignore[arg-type]


def codes(report: VerifyReport) -> set[str]:
    return {str(f.code) for _, f in report.all_findings if f.is_error}


def downgraded(entries: list[LogEntry]) -> list[LogEntry]:
    out = []
    for e in entries:
        record = CODEC.decode_any(e.value)
        if not isinstance(record, AuditCheckpoint):
            out.append(e)
        elif not record.note.startswith(note.completeness_origin(LOG) + "\n"):
            out.append(
                LogEntry(e.partition, e.offset, CODEC.encode(record.model_copy(update={"note": "", "frontier": []})))
            )
    return out


def test_a_downgraded_log_with_a_partition_dropped_is_partition_missing() -> None:
    writer = Writer(partitions=3)
    for p in (0, 1, 2):
        writer.records(p, 5)
    writer.sign()
    entries = [e for e in downgraded(writer.entries()) if e.partition != 2]
    report = verified(entries)
    assert Code.PARTITION_MISSING in codes(report), report.problems


def test_a_v0_checkpoint_covers_nothing_in_a_log_with_v1_checkpoints() -> None:
    writer = Writer()
    writer.records(0, 5)
    writer.records(1, 5)
    writer.sign()
    entries = writer.entries()
    # Partition 1's checkpoint downgraded to its (genuine) v0 signature; partition 0 keeps its note.
    entries = [e for e in entries if e.partition == 0] + downgraded([e for e in entries if e.partition == 1])
    report = verified(entries)
    assert report.partitions[1].covered_seq == -1 and report.partitions[1].uncovered == 5
    assert verified(entries, max_age=timedelta(minutes=3), now=T0 + timedelta(hours=1)).partitions[1].findings


def pure_0_1_0(signed_at: datetime) -> list[LogEntry]:
    old, head = released_records(6)
    writer = Writer()
    writer.write(0, old)
    writer.log[0].append(CODEC.encode(sign_checkpoint(KEY, key_id(KEY), 0, head, signed_at)))
    return writer.entries()


def test_a_v0_checkpoint_signed_after_the_key_was_revoked_is_a_finding() -> None:
    assert not codes(verified(pure_0_1_0(T0))), "a genuine 0.1.0 log verifies"
    report = verified(pure_0_1_0(T0 + timedelta(days=1)), keys(revoked_at=T0))
    assert Code.REVOKED_KEY in codes(report), report.problems
    assert report.partitions[0].covered_seq == -1


def test_a_v0_only_log_older_than_the_maximum_age_is_stale() -> None:
    entries = pure_0_1_0(T0)
    assert Code.STALE in codes(verified(entries, now=T0 + timedelta(hours=1), max_age=timedelta(minutes=3)))
    assert not codes(verified(entries, now=T0 + timedelta(minutes=1), max_age=timedelta(minutes=3)))
