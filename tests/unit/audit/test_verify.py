"""The offline verifier (docs/audit-format.md §11) over logs as the worker writes them: every kind of
tampering is a finding; retention, schema evolution, at-least-once repeats and key rotation are not."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import fastavro
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.contract.codec import HEADER_SIZE
from gateway.contract.history import released_schema_sets
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit import note
from gateway.core.audit.chain import ChainHead, append
from gateway.core.audit.keyset import KeySet, check_receipt
from gateway.core.audit.legacy import check_chain
from gateway.core.audit.note import raw_public
from gateway.core.audit.prove import prove
from gateway.core.audit.signing import completeness_checkpoint, sign_checkpoint
from gateway.core.audit.tlog import Code
from gateway.core.audit.verify import LogEntry, VerifyReport, verify_audit_log
from gateway.keyring import key_id
from tests.support.audit_log import CODEC, KEY, LOG, T0, Writer
from tests.vectors.audit.generate import current_records, released_records

OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def keys(*signers: tuple[Ed25519PrivateKey, datetime | None, datetime | None, datetime | None]) -> KeySet:
    return KeySet.of(
        LOG, [(raw_public(k.public_key()), a, b, c) for k, a, b, c in signers or [(KEY, None, None, None)]]
    )


def written(batches: int = 3, per_batch: int = 20) -> Writer:
    writer = Writer()
    for _ in range(batches):
        for p in (0, 1):
            writer.records(p, per_batch)
        writer.sign()
    return writer


def verified(entries: list[LogEntry], keyset: KeySet | None = None, **options: object) -> VerifyReport:
    return verify_audit_log(entries, CODEC, keyset or keys(), **options)  # type: ignore[arg-type]


def codes(report: VerifyReport) -> set[str]:
    return {str(f.code) for _, f in report.all_findings}


def records_of(entries: list[LogEntry], partition: int) -> list[int]:
    return [i for i, e in enumerate(entries) if e.partition == partition and _is_record(e.value)]


def checkpoints_of(entries: list[LogEntry], partition: int) -> list[int]:
    return [i for i, e in enumerate(entries) if e.partition == partition and not _is_record(e.value)]


def _is_record(value: bytes) -> bool:
    return isinstance(CODEC.decode_any(value), AuditRecord)


def test_an_untouched_log_verifies_and_is_covered() -> None:
    report = verified(written().entries())
    assert not report.tampered and not codes(report), report.problems
    assert report.uncovered == 0 and report.duplicates == 0
    assert [p.newest.checkpoint.size for p in report.partitions.values() if p.newest] == [60, 60]
    assert report.completeness is not None and report.completeness.heads[1][0] == 60


def test_a_redo_after_a_crash_is_reported_as_duplicates_not_tampering() -> None:
    writer = written()
    head = writer.heads[1]
    for value in writer.log[1][-21:-1]:  # the last batch's decisions again, as new leaves with the next seq
        again, head = append(CODEC.decode(value, AuditRecord).model_dump(), head)
        writer.write(1, [CODEC.encode(again)])
    writer.sign()
    report = verified(writer.entries())
    assert not report.tampered, report.problems
    assert report.duplicates == 20


def test_a_flipped_byte_is_detected() -> None:
    entries = written().entries()
    i = records_of(entries, 0)[5]
    value = bytearray(entries[i].value)
    value[len(value) // 2] ^= 0x01
    entries[i] = LogEntry(0, entries[i].offset, bytes(value))
    assert verified(entries).tampered


def test_a_deleted_record_is_missing() -> None:
    entries = written().entries()
    del entries[records_of(entries, 1)[3]]
    assert Code.MISSING_LEAVES in codes(verified(entries))


def test_a_reordered_pair_is_detected() -> None:
    entries = written().entries()
    a, b = records_of(entries, 0)[2:4]
    entries[a], entries[b] = (
        LogEntry(0, entries[a].offset, entries[b].value),
        LogEntry(0, entries[b].offset, entries[a].value),
    )
    assert Code.TAMPERED_RECORD in codes(verified(entries))


def test_a_forged_record_is_detected() -> None:
    entries = written().entries()
    i = records_of(entries, 0)[4]
    original = CODEC.decode(entries[i].value, AuditRecord)
    forged, _ = append({**original.model_dump(), "decision": "FORWARDED", "event_id": "forged"},
                       ChainHead(original.seq - 1, original.prev_hash))  # fmt: skip
    entries[i] = LogEntry(0, entries[i].offset, CODEC.encode(forged))
    assert Code.TAMPERED_RECORD in codes(verified(entries))


def test_a_forged_record_rechained_to_the_end_is_caught_by_the_signed_root() -> None:
    entries = written().entries()
    # The v0 chain needs no key: a forger who edits a record and relinks every later one leaves a
    # chain that checks. Only the signed roots can tell.
    later = records_of(entries, 0)[32:]
    original = CODEC.decode(entries[later[0]].value, AuditRecord)
    assert original.decision == "BLOCKED"  # forged into a face let through
    head = ChainHead(original.seq - 1, original.prev_hash)
    for n, i in enumerate(later):
        fields = CODEC.decode(entries[i].value, AuditRecord).model_dump()
        if n == 0:
            fields.update(decision="FORWARDED")
        rechained, head = append(fields, head)
        entries[i] = LogEntry(0, entries[i].offset, CODEC.encode(rechained))
    assert check_chain(e.value for e in entries if e.partition == 0 and _is_record(e.value)) == []
    report = verified(entries)
    assert codes(report) == {Code.TAMPERED_RECORD}, report.problems
    assert any("do not give the root" in f.detail for f in report.partitions[0].findings), report.problems


def _edited_as_0_1_0(value: bytes, **changes: object) -> bytes:
    """A 0.1.0 record with content changed, written back with its own schema and chain fields."""
    schema = released_schema_sets()[0]["AuditRecord"]
    datum = fastavro.schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), schema.parsed, schema.parsed)
    assert isinstance(datum, dict)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema.parsed, {**datum, **changes})
    return value[:HEADER_SIZE] + body.getvalue()


def test_an_edited_record_of_a_v0_only_log_is_tampered() -> None:
    # A log 0.1.0 wrote: its records and a v0 checkpoint of their chain head, no tree and no notes,
    # so the v0 chain is all that covers the records' content.
    old, head = released_records(8)
    writer = Writer()
    writer.write(0, old)
    writer.log[0].append(CODEC.encode(sign_checkpoint(KEY, key_id(KEY), 0, head, T0)))
    entries = writer.entries()
    report = verified(entries)
    assert not codes(report) and report.partitions[0].covered_seq == 7, report.problems
    i = records_of(entries, 0)[2]
    assert CODEC.decode(entries[i].value, AuditRecord).decision == "BLOCKED"
    entries[i] = LogEntry(0, entries[i].offset, _edited_as_0_1_0(entries[i].value, decision="FORWARDED"))
    report = verified(entries)
    assert codes(report) == {Code.TAMPERED_RECORD}, report.problems
    assert "seq 2: content does not match its hash" in {f.detail for f in report.partitions[0].findings}


def test_a_dropped_partition_is_missing() -> None:
    for dropped in (0, 1):
        entries = [e for e in written().entries() if e.partition != dropped]
        assert Code.PARTITION_MISSING in codes(verified(entries)), dropped


def test_a_partition_cut_back_past_its_checkpoint_is_missing_leaves() -> None:
    entries = written().entries()
    cut = records_of(entries, 1)[-10]
    entries = [e for i, e in enumerate(entries) if e.partition != 1 or i < cut]
    assert Code.MISSING_LEAVES in codes(verified(entries))


def test_records_after_the_last_checkpoint_are_not_yet_covered() -> None:
    writer = written()
    writer.records(1, 7)
    report = verified(writer.entries())
    assert not report.tampered and report.partitions[1].uncovered == 7


def test_retention_pruning_below_a_checkpoint_is_not_tampering() -> None:
    entries = written().entries()
    # The broker deleted partition 1's oldest segment: 25 records and the first checkpoint with them.
    first_kept = records_of(entries, 1)[25]
    entries = [e for i, e in enumerate(entries) if e.partition != 1 or i >= first_kept]
    report = verified(entries)
    assert not report.tampered, report.problems
    assert codes(report) == {Code.PRUNED} and report.partitions[1].pruned == 40


def test_a_prefix_gone_without_a_published_frontier_is_missing_leaves() -> None:
    writer = Writer()
    writer.records(1, 30)
    writer.sign()
    entries = writer.entries()
    entries = [e for i, e in enumerate(entries) if e.partition != 1 or i not in records_of(entries, 1)[:5]]
    assert codes(verified(entries)) == {Code.PRUNED}, "the frontier published at size 30 covers them"
    i = checkpoints_of(entries, 1)[0]
    bare = CODEC.decode(entries[i].value, AuditCheckpoint).model_copy(update={"frontier": []})
    entries[i] = LogEntry(1, entries[i].offset, CODEC.encode(bare))
    assert Code.MISSING_LEAVES in codes(verified(entries))


def test_an_old_checkpoint_replayed_is_inconsistent() -> None:
    entries = written().entries()
    old = entries[checkpoints_of(entries, 1)[0]]
    entries.append(LogEntry(1, 10_000, old.value))
    assert Code.INCONSISTENT in codes(verified(entries))


def test_notes_signed_by_another_key_are_unknown() -> None:
    writer = Writer()
    for p in (0, 1):
        writer.records(p, 10)
    writer.sign(OTHER)
    assert Code.UNKNOWN_KEY in codes(verified(writer.entries()))


def test_key_lifetimes_revocation_and_rotation() -> None:
    writer = Writer()
    writer.records(0, 10)
    writer.records(1, 10)
    writer.sign(KEY)  # at T0 + 1 s
    rotated = T0 + timedelta(seconds=1, milliseconds=500)
    writer.records(0, 10)
    writer.sign(OTHER)  # at T0 + 2 s
    entries = writer.entries()
    planned = keys((KEY, T0, rotated, None), (OTHER, rotated, None, None))
    report = verified(entries, planned)
    assert not report.tampered, report.problems
    assert report.partitions[0].newest and report.partitions[0].newest.key_id == note.key_id(
        LOG, raw_public(OTHER.public_key())
    )
    assert Code.REVOKED_KEY in codes(verified(entries, keys((KEY, T0, None, T0), (OTHER, rotated, None, None))))
    late = keys((KEY, T0 + timedelta(hours=1), None, None), (OTHER, rotated, None, None))
    assert Code.KEY_OUTSIDE_VALIDITY in codes(verified(entries, late))


def test_the_regulators_anchors_catch_a_rewind_and_carry_over_pruning() -> None:
    writer = written(batches=2)
    before = verified(writer.entries())
    kept = before.kept(LOG)
    assert set(kept.partitions) == {0, 1} and kept.completeness is not None
    from gateway.core.audit.anchors import Anchors

    reloaded, found = Anchors.load(kept.dump(), keys())
    assert not found and reloaded.partitions[1].frontier.size == 40
    for p in (0, 1):
        writer.records(p, 20)
    writer.sign()
    entries = writer.entries()
    assert not verified(entries, anchors=reloaded).tampered
    # Retention since: partition 1 lost its first 35 records and checkpoints; the kept frontier covers 40.
    first_kept = records_of(entries, 1)[35]
    pruned = [e for i, e in enumerate(entries) if e.partition != 1 or i >= first_kept]
    report = verified(pruned, anchors=reloaded)
    assert not report.tampered and Code.PRUNED in codes(report), report.problems
    assert report.partitions[1].pruned == 40
    # Retention past the kept size: leaves 40..44 can no longer join today's log to the kept head, so
    # the published frontier of size 60 does not stand in for them (a replaced history looks the same).
    first_kept = records_of(entries, 1)[45]
    pruned = [e for i, e in enumerate(entries) if e.partition != 1 or i >= first_kept]
    assert codes(verified(pruned)) == {Code.PRUNED}, "starting cold, the published frontier is the anchor"
    assert codes(verified(pruned, anchors=reloaded)) == {Code.MISSING_LEAVES}
    # The whole topic rebuilt as it was at the first batch: older than what the regulator kept.
    rewound = written(batches=1).entries()
    report = verified(rewound, anchors=reloaded)
    assert Code.INCONSISTENT in codes(report)


def test_a_stale_log_is_reported() -> None:
    entries = written().entries()
    assert Code.STALE in codes(verified(entries, now=T0 + timedelta(hours=1), max_age=timedelta(minutes=3)))
    assert Code.STALE not in codes(verified(entries, now=T0 + timedelta(minutes=1), max_age=timedelta(minutes=3)))


def test_records_of_the_released_0_1_0_schema_verify_in_a_mixed_log() -> None:
    old, head = released_records(12)
    writer = Writer()
    writer.write(0, old)  # written by 0.1.0, before the tree
    writer.write(0, current_records(0, 10, head, 12))
    writer.records(1, 5)
    writer.sign()
    report = verified(writer.entries())
    assert not report.tampered and not codes(report), report.problems
    assert report.partitions[0].covered_seq == 21


def test_a_legacy_v0_checkpoint_verifies_and_a_forged_one_does_not() -> None:
    # Records 0.1.0 wrote (a writer since signs notes too: its v0-only log is a downgrade, test_v0_checkpoints).
    old, _ = released_records(5)
    writer = Writer()
    writer.write(0, old)
    writer.log[0].append(CODEC.encode(sign_checkpoint(KEY, key_id(KEY), 0, writer.heads[0], T0)))
    report = verified(writer.entries())
    assert not report.tampered and report.partitions[0].covered_seq == 4, report.problems
    writer.log[0].append(CODEC.encode(sign_checkpoint(OTHER, key_id(KEY), 0, writer.heads[0], T0)))
    assert verified(writer.entries()).tampered


@pytest.mark.parametrize("pruned", [False, True])
def test_a_receipt_proves_one_decision_offline(pruned: bool) -> None:
    entries = written().entries()
    if pruned:
        first_kept = records_of(entries, 1)[25]
        entries = [e for i, e in enumerate(entries) if e.partition != 1 or i >= first_kept]
    receipt = prove(entries, CODEC, LOG, "evt-1-47")
    assert receipt is not None and receipt.partition == 1 and receipt.leaf_index == 47
    assert check_receipt(receipt, keys()) == []
    assert isinstance(CODEC.decode_any(receipt.record), AuditRecord)
    forged = type(receipt)(**{**receipt.__dict__, "leaf_index": 46})
    assert Code.TAMPERED_RECORD in {f.code for f in check_receipt(forged, keys())}
    assert prove(entries, CODEC, LOG, "no-such-event") is None
    assert not isinstance(CODEC.decode_any(entries[checkpoints_of(entries, 1)[0]].value), AuditRecord | type(None))
    assert isinstance(CODEC.decode_any(entries[checkpoints_of(entries, 1)[0]].value), AuditCheckpoint)


def test_a_record_with_a_huge_seq_is_one_gap_found_without_walking_it() -> None:
    writer = written(batches=1)
    record, _ = append(CODEC.decode(writer.log[1][0], AuditRecord).model_dump(), ChainHead(2**40 - 1, "0" * 64))
    writer.write(1, [CODEC.encode(record)])
    found = {f.detail for f in verified(writer.entries()).partitions[1].findings if f.code is Code.MISSING_LEAVES}
    assert f"{2**40 - 20} leaves absent after the newest checkpoint, the first 20" in found


def test_a_history_replaced_below_a_published_checkpoint_is_found_against_the_kept_head() -> None:
    writer = written(batches=1)  # partition 1: 20 leaves, kept by the regulator
    reloaded = verified(writer.entries()).kept(LOG)
    forked = Writer()  # partition 1 rewritten from leaf 0 with other records, signed at 30 and 45
    forked.records(0, 20)
    for _ in range(3):
        forked.write(
            1, current_records(7, 15, forked.heads.get(1), (forked.heads[1].seq + 1) if 1 in forked.heads else 0)
        )
        forked.sign()
    entries = forked.entries()
    # ... and its start deleted up to the checkpoint of size 30, whose published frontier stays.
    first = checkpoints_of(entries, 1)[1]
    entries = [e for i, e in enumerate(entries) if e.partition != 1 or i >= first]
    assert codes(verified(entries)) == {Code.PRUNED}, "starting cold, nothing shows the fork"
    assert Code.MISSING_LEAVES in codes(verified(entries, anchors=reloaded))


def test_a_completeness_line_forking_a_checkpoint_of_its_size_is_inconsistent() -> None:
    writer = written(batches=1)
    writer.log[0].pop()  # the honest note; the forged one below is the only one
    listing = [(writer.trees[0].size, writer.trees[0].root()), (writer.trees[1].size, bytes(32))]
    writer.log[0].append(CODEC.encode(completeness_checkpoint(KEY, key_id(KEY), LOG, listing, writer.signed[0],
                                                              writer.at + timedelta(seconds=1))))  # fmt: skip
    assert Code.INCONSISTENT in codes(verified(writer.entries()))


def test_notes_dated_after_the_time_of_verification_are_inconsistent() -> None:
    writer = written(batches=1)
    writer.at = T0 + timedelta(days=3650)  # dated ten years ahead: the stale check would wait for them
    for p in (0, 1):
        writer.records(p, 5)
    writer.sign()
    now = T0 + timedelta(days=7)
    report = verified(writer.entries(), now=now, max_age=timedelta(minutes=5))
    assert codes(report) == {Code.INCONSISTENT}
    assert len([f for _, f in report.all_findings if "after the time of verification" in f.detail]) == 3
    assert not codes(verified(writer.entries(), now=writer.at - note.CLOCK_SKEW))  # within the allowed skew


def test_records_no_signature_covers_are_stale_once_older_than_the_maximum_age() -> None:
    writer = written(batches=1)
    writer.records(1, 7)  # recorded at T0 (the writer's records), after the newest checkpoint
    now, max_age = T0 + timedelta(minutes=10), timedelta(minutes=5)
    report = verified(writer.entries(), now=now, max_age=max_age)
    assert Code.STALE in {f.code for f in report.partitions[1].findings}
    assert not [f for f in report.partitions[0].findings if f.is_error]
    assert not codes(verified(writer.entries(), now=T0 + timedelta(minutes=1), max_age=max_age))
    # Every checkpoint and note removed: nothing signed is left to be stale, but the records are.
    unsigned = [e for e in writer.entries() if _is_record(e.value)]
    assert not codes(verified(unsigned)), "without a maximum age, uncovered records are only counted"
    assert codes(verified(unsigned, now=now, max_age=max_age)) == {Code.STALE, Code.PARTITION_MISSING}
