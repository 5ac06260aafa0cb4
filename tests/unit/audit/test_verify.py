"""The offline verifier catches every kind of tampering and tells at-least-once repeats apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.signing import checkpoint_is_signed, load_public_keys, public_pem, sign_checkpoint
from gateway.core.audit.verify import LogEntry, VerifyReport, verify_audit_log
from gateway.keyring import Keyring
from gateway.sdk.scenario import Traffic, build_world
from tests.support.core import decide_batch, loaded_state, raw_records

CODEC = default_codec()
NAMES = TopicNames()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEYRING = Keyring.generate(["acme"])
KEY_ID, PRIVATE = KEYRING.signing_key()
KEYS = load_public_keys([public_pem(PRIVATE)])


def audit_log(batches: int = 2, per_batch: int = 40, redo_last: bool = False) -> list[LogEntry]:
    """What the worker writes: batches of audit records, a signed checkpoint per partition after each."""
    world = build_world(seed=3, subjects_per_tenant=5)
    state = loaded_state(world)
    traffic = Traffic(world, seed=9)
    heads: dict[int, ChainHead] = {}
    log: dict[int, list[bytes]] = {0: [], 1: []}
    inputs = [raw_records(traffic.take(per_batch)) for _ in range(batches)]
    if redo_last:  # a crash after the outputs were written but before the offsets were committed
        inputs.append(inputs[-1])
    for batch in inputs:
        result = decide_batch(batch, state, heads=heads, audit_partitions=2)
        for output in result.outputs:
            if output.topic == NAMES.audit and output.partition is not None:
                log[output.partition].append(output.value or b"")
        for partition, head in heads.items():
            log[partition].append(CODEC.encode(sign_checkpoint(PRIVATE, KEY_ID, partition, head, NOW)))
    return [LogEntry(p, offset, value) for p, values in log.items() for offset, value in enumerate(values)]


def verified(entries: list[LogEntry]) -> VerifyReport:
    return verify_audit_log(entries, CODEC, KEYS)


def _records_of(entries: list[LogEntry], partition: int) -> list[int]:
    return [
        i
        for i, e in enumerate(entries)
        if e.partition == partition and isinstance(CODEC.decode_any(e.value), AuditRecord)
    ]


def test_an_untouched_log_verifies_and_is_covered() -> None:
    report = verified(audit_log())
    assert not report.tampered, report.problems
    assert report.uncovered == 0 and report.duplicates == 0
    assert sum(p.records for p in report.partitions.values()) == 80
    assert all(p.checkpoints == 2 for p in report.partitions.values())


def test_a_redo_after_a_crash_is_reported_as_duplicates_not_tampering() -> None:
    report = verified(audit_log(redo_last=True))
    assert not report.tampered, report.problems
    assert report.duplicates == 40


def test_a_flipped_byte_is_detected() -> None:
    entries = audit_log()
    i = _records_of(entries, 0)[5]
    value = bytearray(entries[i].value)
    value[len(value) // 2] ^= 0x01
    entries[i] = LogEntry(entries[i].partition, entries[i].offset, bytes(value))
    assert verified(entries).tampered


def test_a_deleted_record_is_detected() -> None:
    entries = audit_log()
    del entries[_records_of(entries, 1)[3]]
    report = verified(entries)
    assert report.tampered and any("missing" in p for p in report.problems)


def test_a_reordered_pair_is_detected() -> None:
    entries = audit_log()
    a, b = _records_of(entries, 0)[2:4]
    entries[a], entries[b] = (
        LogEntry(0, entries[a].offset, entries[b].value),
        LogEntry(0, entries[b].offset, entries[a].value),
    )
    assert verified(entries).tampered


def test_a_forged_insertion_is_detected() -> None:
    entries = audit_log()
    i = _records_of(entries, 0)[4]
    original = CODEC.decode(entries[i].value, AuditRecord)
    # A forger can recompute SHA-256, but cannot fit a record into the chain without breaking a link.
    from gateway.core.audit.chain import append

    forged, _ = append(
        {**original.model_dump(), "event_id": "forged", "audit_id": "a-forged", "decision": "FORWARDED"},
        ChainHead(original.seq - 1, original.prev_hash),
    )
    entries.insert(i, LogEntry(0, entries[i].offset, CODEC.encode(forged)))
    entries = [LogEntry(e.partition, n, e.value) for n, e in enumerate(entries)]
    report = verified(entries)
    assert report.tampered


def test_a_forged_checkpoint_signature_is_detected() -> None:
    entries = audit_log()
    _, other_key = Keyring.generate(["x"]).signing_key()
    head = CODEC.decode(entries[_records_of(entries, 0)[-1]].value, AuditRecord)
    forged = sign_checkpoint(other_key, KEY_ID, 0, ChainHead(head.seq, head.hash), NOW)  # claims our key id
    assert not checkpoint_is_signed(forged, KEYS)
    entries.append(LogEntry(0, 10_000, CODEC.encode(forged)))
    assert any("signature" in p for p in verified(entries).problems)


def test_records_after_the_last_checkpoint_are_not_yet_covered() -> None:
    entries = audit_log()
    last_checkpoint = max(i for i, e in enumerate(entries) if e.partition == 0 and i not in _records_of(entries, 0))
    del entries[last_checkpoint]
    report = verified(entries)
    assert not report.tampered and report.partitions[0].uncovered == 20


@pytest.mark.parametrize("partition", [0, 1])
def test_chains_are_independent_per_partition(partition: int) -> None:
    entries = [e for e in audit_log() if e.partition == partition]
    report = verified(entries)
    assert not report.tampered and set(report.partitions) == {partition}
