"""Key sets load strictly; a signature counts only by a listed key inside its lifetime; receipts
verify offline and fail for a changed record, proof or checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.contract.codec import default_codec
from gateway.core.audit import note
from gateway.core.audit.chain import ChainHead, append
from gateway.core.audit.keyset import KeySet, VerifierKey, check_checkpoint, check_completeness, check_receipt
from gateway.core.audit.legacy import check_chain, v0_hash
from gateway.core.audit.note import Checkpoint, Completeness, NoteError, Receipt
from gateway.core.audit.tlog import EMPTY_ROOT, Code, Tree, leaf_hash
from tests.vectors.audit.generate import FILES, check, render
from tests.vectors.audit.generate import HERE as VECTORS

LOG = "facegate.example/audit"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CURRENT, RETIRED, STOLEN, OUTSIDER = (Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32) for i in range(1, 5))


def key(private: Ed25519PrivateKey, **lifetime: datetime) -> VerifierKey:
    return VerifierKey(LOG, note.raw_public(private.public_key()), lifetime.pop("valid_from", T0), **lifetime)


KEYS = KeySet(
    LOG,
    (
        key(CURRENT, valid_from=T0 + timedelta(days=100)),
        key(RETIRED, valid_until=T0 + timedelta(days=100)),
        key(STOLEN, revoked_at=T0 + timedelta(days=200)),
    ),
)


def signed_checkpoint(private: Ed25519PrivateKey = CURRENT, at: datetime = NOW, partition: int = 0) -> bytes:
    body = Checkpoint(note.partition_origin(LOG, partition), 0, EMPTY_ROOT, at).body()
    return note.sign(body, LOG, private).encode()


def codes(findings: list[Any]) -> list[Code]:
    return [f.code for f in findings]


def test_a_key_set_round_trips_and_carries_sumdb_verifier_keys() -> None:
    text = KEYS.dump()
    assert KeySet.load(text) == KEYS
    first = json.loads(text)["keys"][0]
    assert note.parse_verifier_key(first["vkey"]) == (LOG, int(first["key_id"], 16), note.unb64(first["public_key"]))
    assert first["valid_until"] is None and first["revoked_at"] is None


def _edited(edit: Any) -> str:
    data = json.loads(KEYS.dump())
    edit(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["keys"][0].update(key_id="00000000"),
        lambda d: d["keys"][0].update(name="other.example/audit"),
        lambda d: d["keys"][0].update(algorithm="ecdsa"),
        lambda d: d["keys"][0].update(valid_until=d["keys"][0]["valid_from"]),
        lambda d: d["keys"][0].update(valid_from="2026-01-01T00:00:00Z"),
        lambda d: d["keys"][0].update(comment="x"),
        lambda d: d["keys"].append(d["keys"][0]),
        lambda d: d.update(keys=[]),
        lambda d: d.update(format="facegate-keyset/v0"),
    ],
)
def test_a_malformed_key_set_is_refused(edit: Any) -> None:
    with pytest.raises(NoteError):
        KeySet.load(_edited(edit))


def test_a_checkpoint_counts_only_by_a_listed_key_inside_its_lifetime() -> None:
    checkpoint, findings = check_checkpoint(signed_checkpoint(), KEYS, 0)
    assert findings == [] and checkpoint is not None and checkpoint.time == NOW
    assert codes(check_checkpoint(signed_checkpoint(RETIRED), KEYS)[1]) == [Code.KEY_OUTSIDE_VALIDITY]
    assert codes(check_checkpoint(signed_checkpoint(RETIRED, at=T0 + timedelta(days=1)), KEYS)[1]) == []
    assert codes(check_checkpoint(signed_checkpoint(CURRENT, at=T0), KEYS)[1]) == [Code.KEY_OUTSIDE_VALIDITY]
    assert codes(check_checkpoint(signed_checkpoint(STOLEN), KEYS)[1]) == [Code.REVOKED_KEY]
    assert codes(check_checkpoint(signed_checkpoint(STOLEN, at=T0 + timedelta(days=1)), KEYS)[1]) == []
    assert codes(check_checkpoint(signed_checkpoint(OUTSIDER), KEYS)[1]) == [Code.UNKNOWN_KEY]
    assert codes(check_checkpoint(signed_checkpoint(partition=1), KEYS, 0)[1]) == [Code.MALFORMED]


def test_a_changed_body_or_a_bad_signature_rejects_the_note() -> None:
    forged = signed_checkpoint().replace(b"\n0\n", b"\n7\n")
    assert codes(check_checkpoint(forged, KEYS)[1]) == [Code.BAD_SIGNATURE]
    # a signature by an unlisted key is ignored, as note.Open ignores it
    body = Checkpoint(note.partition_origin(LOG, 0), 0, EMPTY_ROOT, NOW).body()
    cosigned = note.cosign(note.sign(body, "witness.example", OUTSIDER), LOG, CURRENT)
    assert check_checkpoint(cosigned.encode(), KEYS)[1] == []


def test_a_completeness_note_is_judged_like_a_checkpoint() -> None:
    body = Completeness(note.completeness_origin(LOG), NOW, ((0, EMPTY_ROOT),)).body()
    parsed, findings = check_completeness(note.sign(body, LOG, CURRENT).encode(), KEYS)
    assert findings == [] and parsed is not None and parsed.heads == ((0, EMPTY_ROOT),)
    wrong = Completeness(f"{LOG}/0", NOW, ((0, EMPTY_ROOT),)).body()
    assert codes(check_completeness(note.sign(wrong, LOG, CURRENT).encode(), KEYS)[1]) == [Code.MALFORMED]


def _records(n: int) -> list[bytes]:
    codec, head, out = default_codec(), ChainHead(), []
    for i in range(n):
        fields = {"audit_id": f"a-{i}", "event_id": f"evt-{i}", "tenant_id": "acme", "decision": "FORWARDED",
                  "rule_ids": ["R01"], "policy_version": "p1", "recorded_at": NOW}  # fmt: skip
        record, head = append(fields, head)
        out.append(codec.encode(record))
    return out


def _receipt(index: int = 2) -> Receipt:
    records = _records(5)
    tree = Tree.of(leaf_hash(r) for r in records)
    body = Checkpoint(note.partition_origin(LOG, 0), 5, tree.root(), NOW).body()
    proof = tuple(tree.inclusion_proof(index, 5))
    return Receipt(f"evt-{index}", 0, index, records[index], proof, note.sign(body, LOG, CURRENT).encode())


def test_a_receipt_verifies_offline() -> None:
    receipt = Receipt.from_json(_receipt().to_json())
    assert check_receipt(receipt, KEYS) == []


def test_a_tampered_receipt_says_what_is_wrong() -> None:
    good = _receipt()
    other = _receipt(3)
    assert codes(check_receipt(replace(good, record=other.record), KEYS)) == [Code.TAMPERED_RECORD]
    assert codes(check_receipt(replace(good, inclusion_proof=other.inclusion_proof), KEYS)) == [Code.TAMPERED_RECORD]
    assert codes(check_receipt(replace(good, event_id="evt-3"), KEYS)) == [Code.TAMPERED_RECORD]
    assert codes(check_receipt(replace(good, leaf_index=9), KEYS)) == [Code.MALFORMED]
    assert codes(check_receipt(replace(good, partition=1), KEYS)) == [Code.MALFORMED]
    forged = good.checkpoint.replace(b"\n5\n", b"\n6\n")
    assert codes(check_receipt(replace(good, checkpoint=forged), KEYS)) == [Code.BAD_SIGNATURE]


def test_the_v0_chain_of_todays_records_verifies() -> None:
    records = _records(4)
    codec = default_codec()
    assert all(v0_hash(r) == codec.decode_any(r).hash for r in records)  # type: ignore[attr-defined]
    assert check_chain(records) == []
    assert codes(check_chain([records[0], *records[2:]])) == [Code.MISSING_LEAVES]
    assert codes(check_chain(records[1:])) == [Code.PRUNED]


def _vector_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(name, case) for name in FILES for case in json.loads((VECTORS / name).read_text())["cases"]]


def test_the_checked_in_vectors_are_what_the_generator_writes() -> None:
    for name, build in FILES.items():
        assert (VECTORS / name).read_text(encoding="utf-8") == render(build()), f"{name}: run {VECTORS}/generate.py"


@pytest.mark.parametrize(("file", "case"), _vector_cases(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_python_reports_what_each_vector_expects(file: str, case: dict[str, Any]) -> None:
    keyset = KeySet.load(json.dumps(json.loads((VECTORS / "keys.json").read_text())["keyset"]))
    assert check(case, keyset) == case["expect"]
