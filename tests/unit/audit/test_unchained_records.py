"""Records with an empty v0 hash are part of the chain check (docs/audit-format.md §2.2): a non-empty
hash after one is a finding, also below an anchor; records below the anchor are not counted verified."""

from __future__ import annotations

from gateway.contract.models import AuditRecord
from gateway.core.audit.keyset import KeySet
from gateway.core.audit.note import raw_public
from gateway.core.audit.tlog import Code
from gateway.core.audit.verify import LogEntry, VerifyReport, verify_audit_log
from tests.support.audit_log import CODEC, KEY, LOG, Writer


def keys() -> KeySet:
    return KeySet.of(LOG, [(raw_public(KEY.public_key()), None, None, None)])


def verified(entries: list[LogEntry], **options: object) -> VerifyReport:
    return verify_audit_log(entries, CODEC, keys(), **options)  # type: ignore[arg-type]


def written() -> Writer:
    writer = Writer(partitions=1)
    writer.records(0, 4)
    writer.sign()  # size 4, with its frontier
    writer.records(0, 3)
    writer.sign()  # size 7
    return writer


def pruned_and_forged(entries: list[LogEntry]) -> list[LogEntry]:
    """Seq 0 deleted (looks like retention), seq 1..3 (below the first frontier) rewritten, unchained."""
    out = []
    for e in entries:
        record = CODEC.decode_any(e.value)
        if isinstance(record, AuditRecord) and record.seq == 0:
            continue
        if isinstance(record, AuditRecord) and record.seq < 4:
            forged = record.model_copy(update={"camera_id": "FORGED-CAM", "hash": ""})
            e = LogEntry(e.partition, e.offset, CODEC.encode(forged))  # noqa: PLW2901
        out.append(e)
    return out


def test_records_below_the_anchor_are_not_counted_verified() -> None:
    writer = written()
    entries = [e for e in writer.entries() if e.offset != 0]  # seq 0 pruned
    report = verified(entries)
    assert not report.tampered, report.problems
    assert report.partitions[0].pruned == 4 and report.partitions[0].unverified == 3


def test_unchained_records_before_chained_ones_are_tampered_also_below_the_anchor() -> None:
    writer = written()
    kept = verified(writer.entries()).kept(LOG)
    forged = pruned_and_forged(writer.entries())
    assert Code.TAMPERED_RECORD in {f.code for _, f in verified(forged).all_findings}
    assert Code.TAMPERED_RECORD in {f.code for _, f in verified(forged, anchors=kept).all_findings}
