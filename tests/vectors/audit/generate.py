"""Writes the audit format's test vectors (docs/audit-format.md, section 12) into this folder.

Deterministic: fixed Ed25519 seeds, fixed times, fixed record contents, so a run writes the
files that are checked in (a unit test holds them equal). `check` is the Python reading of a
case; the Go verifier in verifier/ is the other. Run: python tests/vectors/audit/generate.py
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.contract.codec import MARKER, default_codec
from gateway.contract.history import released_schema_sets
from gateway.contract.models import AuditRecord
from gateway.contract.schemas import SchemaSet
from gateway.core.audit import note
from gateway.core.audit.chain import ChainHead, append, canonical
from gateway.core.audit.keyset import KeySet, VerifierKey, check_checkpoint, check_completeness, check_receipt
from gateway.core.audit.legacy import check_chain, decode, v0_leaf
from gateway.core.audit.note import Checkpoint, Completeness, NoteError, Receipt
from gateway.core.audit.tlog import Finding, Frontier, Tree, check_consistency, check_leaves, leaf_hash, root
from gateway.core.audit.tlog import verify_consistency as consistent
from gateway.core.audit.tlog import verify_inclusion as included

HERE = Path(__file__).resolve().parent
LOG = "facegate.example/audit"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
Case = dict[str, Any]


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"facegate audit test key {label}".encode()).digest())


SIGNERS = {label: _key(label) for label in ("current", "retired", "revoked", "outsider")}
KEYS = KeySet(
    LOG,
    (
        VerifierKey(LOG, note.raw_public(SIGNERS["current"].public_key()), datetime(2026, 6, 1, tzinfo=UTC)),
        VerifierKey(LOG, note.raw_public(SIGNERS["retired"].public_key()), datetime(2026, 1, 1, tzinfo=UTC),
                    valid_until=datetime(2026, 6, 1, tzinfo=UTC)),
        VerifierKey(LOG, note.raw_public(SIGNERS["revoked"].public_key()), datetime(2026, 1, 1, tzinfo=UTC),
                    revoked_at=datetime(2026, 10, 1, tzinfo=UTC)),
    ),
)  # fmt: skip


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _case(name: str, kind: str, expect: list[str], **inputs: Any) -> Case:
    return {"name": name, "kind": kind, **inputs, "expect": sorted(set(expect))}


# -- records ---------------------------------------------------------------------------------


def _fields(partition: int, i: int) -> dict[str, Any]:
    """Record contents that exercise the v0 rendering: escapes, non-ASCII, millis, 1969."""
    fields: dict[str, Any] = {
        "audit_id": f"aud-{partition}-{i}", "event_id": f"evt-{partition}-{i}", "tenant_id": "acme",
        "camera_id": f"cam-{i % 3}", "decision": ["FORWARDED", "STRIPPED", "BLOCKED"][i % 3],
        "rule_ids": ["R01", "R03"][: 1 + i % 2], "policy_version": "pipl-cn/2026.1",
        "recorded_at": T0 + timedelta(milliseconds=1000 * i + 7 * (i % 2)), "purpose": "ACCESS_CONTROL",
    }  # fmt: skip
    if i % 4 == 1:
        fields["site_id"] = 'Süd "Nord"\\Tor\t1 \U0001f600'
        fields["event_time"] = datetime(1969, 7, 20, 20, 17, 40, 123000, tzinfo=UTC)
    if i % 4 == 2:
        fields["subject_pseudonym"] = "psn-\u00e9\x7f"
        fields["reason_codes"] = ["CONSENT_MISSING"]
    return fields


def current_records(partition: int, n: int, head: ChainHead | None = None, first: int = 0) -> list[bytes]:
    """What today's worker writes: the v0 chain in the current schema."""
    head, out = head or ChainHead(), []
    for i in range(first, first + n):
        record, head = append(_fields(partition, i), head)
        out.append(default_codec().encode(record))
    return out


def released_records(n: int) -> tuple[list[bytes], ChainHead]:
    """What a 0.1.0 worker wrote: only the 0.1.0 fields, hashed and encoded with that schema."""
    schema = released_schema_sets()[0]["AuditRecord"]
    names = {f["name"] for f in schema.fields()}
    head, out = ChainHead(), []
    for i in range(n):
        full = AuditRecord.model_validate({**_fields(9, i), "seq": head.seq + 1, "prev_hash": head.hash, "hash": ""})
        shown = {k: v for k, v in full.model_dump(mode="json").items() if k in names}
        digest = hashlib.sha256(canonical(shown, full.seq, head.hash)).hexdigest()
        datum = {k: v for k, v in full.model_copy(update={"hash": digest}).to_avro().items() if k in names}
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema.parsed, datum)
        out.append(MARKER + schema.fingerprint + body.getvalue())
        head = ChainHead(full.seq, digest)
    return out, head


def altered(value: bytes, **changes: Any) -> bytes:
    """The record with content changed and its chain fields kept: what a forger who edits does."""
    record = default_codec().decode(value, AuditRecord)
    return default_codec().encode(AuditRecord.model_validate({**record.model_dump(), **changes}))


# -- notes -----------------------------------------------------------------------------------


def checkpoint(partition: int, size: int, root_hash: bytes, at: datetime = T0, signer: str = "current") -> str:
    body = Checkpoint(note.partition_origin(LOG, partition), size, root_hash, at).body()
    return note.sign(body, LOG, SIGNERS[signer]).encode().decode()


def completeness(heads: list[tuple[int, bytes]], at: datetime, signer: str = "current") -> str:
    body = Completeness(note.completeness_origin(LOG), at, tuple(heads)).body()
    return note.sign(body, LOG, SIGNERS[signer]).encode().decode()


def anchor(records: list[bytes], size: int) -> dict[str, Any]:
    frontier = Tree.of(leaf_hash(r) for r in records[:size]).frontier()
    return {"size": size, "hashes": [b64(h) for h in frontier.hashes]}


# -- the files -------------------------------------------------------------------------------


def keys_file() -> dict[str, Any]:
    text = "FaceGate test vector note\nsigned by each test key\n"
    cases = [
        _case(f"sign-{label}", "signer", [], skey=note.signer_key(LOG, key), text=text,
              note=note.sign(text, LOG, key).encode().decode())
        for label, key in SIGNERS.items()
    ]  # fmt: skip
    return {
        "description": "The key set every other file uses (current; retired on 2026-06-01; revoked on 2026-10-01) "
        "and the test signer keys in sumdb/note text form. Test keys only: their seeds are public.",
        "keyset": json.loads(KEYS.dump()),
        "cases": cases,
    }


def tree_file() -> dict[str, Any]:
    ct = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    counting = [bytes(range(i)).hex() for i in range(40)]
    cases = []
    for name, leaves in (("rfc6962-reference", ct), ("counting-0-39", counting)):
        hashes = [leaf_hash(bytes.fromhex(x)) for x in leaves]
        roots = [root(hashes[:n]).hex() for n in range(len(hashes) + 1)]
        cases.append(_case(name, "tree", [], leaves=leaves, roots=roots))
    return {"description": "Leaves (hex) and the RFC 6962 root of every prefix, n = 0..len.", "cases": cases}


def _schemas() -> list[dict[str, Any]]:
    sets = [(d.name, s) for d, s in zip(_released_dirs(), released_schema_sets(), strict=True)]
    out = []
    for version, schemas in [*sets, ("current", SchemaSet.load())]:
        record = schemas["AuditRecord"]
        out.append({"version": version, "fingerprint": record.fingerprint.hex(), "schema": record.schema})
    return out


def _released_dirs() -> list[Path]:
    from gateway.contract.history import released_dirs

    return released_dirs()


def leaves_file() -> dict[str, Any]:
    today = current_records(0, 4)
    old, _ = released_records(2)
    cases = [_case(f"v1-{i}", "leaf-v1", [], record=b64(r), leaf_hash=leaf_hash(r).hex()) for i, r in enumerate(today)]
    for label, values in (("0.1.0", old), ("current", today)):
        for i, value in enumerate(values):
            leaf = v0_leaf(value)
            cases.append(_case(f"v0-{label}-{i}", "leaf-v0", [], record=b64(value), v0=leaf.decode(),
                               hash=hashlib.sha256(leaf).hexdigest()))  # fmt: skip
    forged = altered(today[1], decision="BLOCKED")
    cases.append(_case("v0-altered-decision", "leaf-v0", ["tampered-record"], record=b64(forged),
                       v0=v0_leaf(forged).decode(), hash=hashlib.sha256(v0_leaf(forged)).hexdigest()))  # fmt: skip
    return {
        "description": "v1 leaves (record bytes -> RFC 6962 leaf hash) and v0 forms (record -> the JSON the 0.1.0 "
        "chain hashes, and its SHA-256, which the record's own hash field must equal). `schemas`: the AuditRecord "
        "writer schemas, composed, with their CRC-64-AVRO fingerprints (little-endian, as in the record header).",
        "schemas": _schemas(),
        "cases": cases,
    }


def legacy_file() -> dict[str, Any]:
    old, head = released_records(3)
    chain = old + current_records(1, 3, head, first=3)  # an upgrade from 0.1.0 in the middle of a chain
    cases = [
        _case("upgrade-from-0.1.0", "chain-v0", [], records=[b64(r) for r in chain]),
        _case("gap", "chain-v0", ["missing-leaves"], records=[b64(r) for r in chain[:2] + chain[3:]]),
        _case("reordered", "chain-v0", ["missing-leaves", "tampered-record"], records=[b64(r) for r in [chain[0], chain[2], chain[1]]]),
        _case("altered", "chain-v0", ["tampered-record"],
              records=[b64(r) for r in [*chain[:4], altered(chain[4], tenant_id="other"), chain[5]]]),
        _case("pruned-start", "chain-v0", ["pruned-before-checkpoint"], records=[b64(r) for r in chain[2:]]),
    ]  # fmt: skip
    return {"description": "Partitions as v0 hash chains, records in log order (base64).", "cases": cases}


def proofs_file() -> dict[str, Any]:
    hashes = [leaf_hash(r) for r in current_records(0, 13)]
    tree = Tree.of(hashes)
    cases = []
    for index, size in ((0, 1), (0, 13), (5, 8), (6, 13), (12, 13), (7, 11)):
        proof = tree.inclusion_proof(index, size)
        cases.append(_inclusion(f"inclusion-{index}-of-{size}", [], hashes[index], index, size, proof, tree.root(size)))
    proof = tree.inclusion_proof(6, 13)
    flipped = [proof[0], bytes([proof[1][0] ^ 1]) + proof[1][1:], *proof[2:]]
    cases.append(_inclusion("inclusion-flipped", ["tampered-record"], hashes[6], 6, 13, flipped, tree.root()))
    cases.append(_inclusion("inclusion-wrong-leaf", ["tampered-record"], hashes[7], 6, 13, proof, tree.root()))
    for m, n in ((1, 13), (4, 13), (6, 13), (7, 8), (13, 13), (0, 5)):
        cases.append(_consistency(f"consistency-{m}-{n}", [], m, n, tree, tree.consistency_proof(m, n)))
    fork = Tree.of([*hashes[:3], leaf_hash(b"rewritten"), *hashes[4:]])
    cases.append(_consistency("consistency-fork", ["inconsistent"], 6, 13, tree, tree.consistency_proof(6, 13), fork))
    return {"description": "Inclusion and consistency proofs (hex) over 13 records' leaf hashes.", "cases": cases}


def _inclusion(
    name: str, expect: list[str], leaf: bytes, index: int, size: int, proof: list[bytes], top: bytes
) -> Case:
    return _case(name, "inclusion", expect, leaf_hash=leaf.hex(), index=index, size=size,
                 proof=[p.hex() for p in proof], root=top.hex())  # fmt: skip


def _consistency(
    name: str, expect: list[str], m: int, n: int, tree: Tree, proof: list[bytes], old: Tree | None = None
) -> Case:
    return _case(name, "consistency", expect, first_size=m, second_size=n, first=(old or tree).root(m).hex(),
                 second=tree.root(n).hex(), proof=[p.hex() for p in proof])  # fmt: skip


def checkpoints_file() -> dict[str, Any]:
    records = current_records(0, 6)
    tree = Tree.of(leaf_hash(r) for r in records)
    top = tree.root()
    good = checkpoint(0, 6, top)
    mar, nov = datetime(2026, 3, 1, tzinfo=UTC), T0
    untimed = Checkpoint(f"{LOG}/0", 6, top, T0).body().replace(".000Z", "Z")
    cases = [
        _case("current-key", "checkpoint", [], partition=0, note=good, size=6, root=b64(top)),
        _case("retired-key-in-its-time", "checkpoint", [], partition=0, note=checkpoint(0, 6, top, mar, "retired")),
        _case("retired-key-after", "checkpoint", ["key-outside-validity"], partition=0,
              note=checkpoint(0, 6, top, nov, "retired")),
        _case("current-key-before", "checkpoint", ["key-outside-validity"], partition=0,
              note=checkpoint(0, 6, top, mar, "current")),
        _case("revoked-key-before", "checkpoint", [], partition=0, note=checkpoint(0, 6, top, mar, "revoked")),
        _case("revoked-key-after", "checkpoint", ["revoked-key"], partition=0,
              note=checkpoint(0, 6, top, nov, "revoked")),
        _case("unknown-key", "checkpoint", ["unknown-key"], partition=0, note=checkpoint(0, 6, top, nov, "outsider")),
        _case("altered-size", "checkpoint", ["bad-signature"], partition=0, note=good.replace("\n6\n", "\n5\n")),
        _case("other-partition", "checkpoint", ["malformed"], partition=1, note=good),
        _case("time-without-millis", "checkpoint", ["malformed"], partition=0,
              note=note.sign(untimed, LOG, SIGNERS["current"]).encode().decode()),
        _case("consistent", "checkpoint-pair", [], partition=0, older=checkpoint(0, 4, tree.root(4)), newer=good,
              proof=[b64(h) for h in tree.consistency_proof(4, 6)]),
        _case("fork-same-size", "checkpoint-pair", ["inconsistent"], partition=0, older=good, proof=[],
              newer=checkpoint(0, 6, root(leaf_hash(r) for r in [*records[:5], altered(records[5], tenant_id="x")]),
                               T0 + timedelta(seconds=1))),
        _case("fork-bad-proof", "checkpoint-pair", ["inconsistent"], partition=0,
              older=checkpoint(0, 4, root([leaf_hash(b"other")] * 4)), newer=good,
              proof=[b64(h) for h in tree.consistency_proof(4, 6)]),
        _case("rolled-back", "checkpoint-pair", ["inconsistent"], partition=0, older=good,
              newer=checkpoint(0, 4, tree.root(4), T0 + timedelta(seconds=1)), proof=[]),
    ]  # fmt: skip
    return {"description": "Signed checkpoints judged against keys.json's key set; pairs of heads of one log.",
            "cases": cases}  # fmt: skip


def partition_file() -> dict[str, Any]:
    records = current_records(2, 11)
    tree = Tree.of(leaf_hash(r) for r in records)
    signed = checkpoint(2, 10, tree.root(10))

    def case(name: str, expect: list[str], values: list[bytes], anchored: dict[str, Any] | None = None) -> Case:
        return _case(name, "partition", expect, partition=2, records=[b64(v) for v in values], anchor=anchored,
                     checkpoint=signed)  # fmt: skip

    wrong = anchor(records, 4)
    wrong["hashes"][0] = b64(bytes(32))
    return {
        "description": "One partition's records (base64, log order; leaf index = seq), an optional anchor (the "
        "frontier of its pruned prefix) and a signed checkpoint of size 10. Record 10 is not yet covered.",
        "cases": [
            case("complete", [], records),
            case("pruned-with-anchor", ["pruned-before-checkpoint"], records[4:], anchor(records, 4)),
            case("anchor-below-surviving-records", ["pruned-before-checkpoint"], records[3:], anchor(records, 4)),
            case("pruned-without-anchor", ["missing-leaves"], records[4:]),
            case("gap", ["missing-leaves"], records[:5] + records[6:]),
            case("cut-back", ["missing-leaves"], records[:8]),
            case("altered", ["tampered-record"], [*records[:3], altered(records[3], decision="BLOCKED"), *records[4:]]),
            case("wrong-anchor", ["pruned-before-checkpoint", "tampered-record"], records[4:], wrong),
        ],
    }


def completeness_file() -> dict[str, Any]:
    data = {p: current_records(10 + p, 4 + p) for p in range(3)}
    trees = {p: Tree.of(leaf_hash(r) for r in values) for p, values in data.items()}
    first = completeness([(3, trees[0].root(3)), (4, trees[1].root(4)), (5, trees[2].root(5))], T0)
    full = [(4, trees[0].root()), (5, trees[1].root()), (6, trees[2].root())]
    second = completeness(full, T0 + timedelta(seconds=1))
    now = T0 + timedelta(seconds=2)

    def case(name: str, expect: list[str], notes: list[str], parts: dict[int, list[bytes]] | None = None,
             at: datetime = now) -> Case:  # fmt: skip
        parts = data if parts is None else parts
        return _case(name, "completeness", expect, notes=notes, now=note.format_time(at), max_age_seconds=3,
                     partitions={str(p): [b64(v) for v in values] for p, values in parts.items()})  # fmt: skip

    return {
        "description": "Completeness notes in time order, every partition's records (base64), the time of "
        "verification and the maximum age (seconds). The data is checked against the newest note.",
        "cases": [
            case("complete", [], [first, second]),
            case("partition-dropped", ["partition-missing"], [first, completeness(full[:2], T0 + timedelta(seconds=1))],
                 {p: data[p][:4 + p] for p in range(2)}),
            case("partition-deleted", ["partition-missing"], [first, second], {0: data[0], 1: data[1]}),
            case("cut-back", ["missing-leaves"], [first, second], {**data, 1: data[1][:3]}),
            case("rolled-back", ["inconsistent"], [second, completeness([full[0], (3, trees[1].root(3)), full[2]],
                                                                        T0 + timedelta(seconds=2))],
                 {0: data[0], 1: data[1][:3], 2: data[2]}),
            case("stale", ["stale"], [first, second], at=T0 + timedelta(minutes=5)),
            case("unknown-signer", ["unknown-key"], [first, completeness(full, T0 + timedelta(seconds=1), "outsider")]),
        ],
    }  # fmt: skip


def keysets_file() -> dict[str, Any]:
    good = json.loads(KEYS.dump())

    def edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(good))
        edit(copy)
        return copy

    cases = [
        _case("good", "keyset", [], keyset=good),
        _case("wrong-key-id", "keyset", ["malformed"], keyset=edited(lambda d: d["keys"][0].update(key_id="00000000"))),
        _case("other-name", "keyset", ["malformed"], keyset=edited(lambda d: d["keys"][0].update(name="x.example/a"))),
        _case("vkey-of-another-key", "keyset", ["malformed"],
              keyset=edited(lambda d: d["keys"][0].update(vkey=d["keys"][1]["vkey"]))),
        _case("ends-before-it-starts", "keyset", ["malformed"],
              keyset=edited(lambda d: d["keys"][1].update(valid_until="2025-12-31T00:00:00.000Z"))),
        _case("duplicate-key", "keyset", ["malformed"], keyset=edited(lambda d: d["keys"].append(d["keys"][0]))),
        _case("loose-time", "keyset", ["malformed"],
              keyset=edited(lambda d: d["keys"][0].update(valid_from="2026-06-01T00:00:00Z"))),
        _case("unknown-member", "keyset", ["malformed"], keyset=edited(lambda d: d["keys"][0].update(note="x"))),
    ]  # fmt: skip
    return {"description": "Key set documents; a malformed one verifies nothing.", "cases": cases}


def receipts_file() -> dict[str, Any]:
    records = current_records(3, 9)
    tree = Tree.of(leaf_hash(r) for r in records)

    def receipt(index: int = 5, signer: str = "current", **changes: Any) -> dict[str, Any]:
        signed = checkpoint(3, 9, tree.root(), T0, signer).encode()
        made = Receipt(f"evt-3-{index}", 3, index, records[index], tuple(tree.inclusion_proof(index, 9)), signed)
        data: dict[str, Any] = json.loads(made.to_json())
        data.update(changes)
        return data

    proof = receipt()["inclusion_proof"]
    cases = [
        _case("good", "receipt", [], receipt=receipt()),
        _case("good-first-leaf", "receipt", [], receipt=receipt(0)),
        _case("other-record", "receipt", ["tampered-record"], receipt=receipt(record=b64(records[4]))),
        _case("altered-record", "receipt", ["tampered-record"],
              receipt=receipt(record=b64(altered(records[5], decision="FORWARDED")))),
        _case("altered-proof", "receipt", ["tampered-record"], receipt=receipt(inclusion_proof=proof[::-1])),
        _case("other-event", "receipt", ["tampered-record"], receipt=receipt(event_id="evt-3-4")),
        _case("index-beyond", "receipt", ["malformed"], receipt=receipt(leaf_index=9)),
        _case("other-partition", "receipt", ["malformed"], receipt=receipt(partition=2)),
        _case("forged-checkpoint", "receipt", ["bad-signature"],
              receipt=receipt(checkpoint=receipt()["checkpoint"].replace("\n9\n", "\n10\n"))),
        _case("revoked-signer", "receipt", ["revoked-key"], receipt=receipt(signer="revoked")),
    ]  # fmt: skip
    return {"description": "Receipts (facegate-receipt/v1) judged against keys.json's key set.", "cases": cases}


FILES: dict[str, Callable[[], dict[str, Any]]] = {
    "keys.json": keys_file, "tree.json": tree_file, "leaves.json": leaves_file, "legacy.json": legacy_file,
    "proofs.json": proofs_file, "checkpoints.json": checkpoints_file, "partition.json": partition_file,
    "completeness.json": completeness_file, "keysets.json": keysets_file, "receipts.json": receipts_file,
}  # fmt: skip


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=1, ensure_ascii=False) + "\n"


# -- the Python reading of a case ------------------------------------------------------------


def check(case: Case, keys: KeySet) -> list[str]:
    """The distinct finding codes Python reports for a case ("mismatch": a known answer differs)."""
    findings = CHECKS[case["kind"]](case, keys)
    return sorted({f if isinstance(f, str) else f.code.value for f in findings})


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _check_signer(case: Case, keys: KeySet) -> list[Finding | str]:
    seed = note.unb64(case["skey"].split("+", 4)[4])[1:]
    signed = note.sign(case["text"], LOG, Ed25519PrivateKey.from_private_bytes(seed))
    return [] if signed.encode().decode() == case["note"] else ["mismatch"]


def _check_tree(case: Case, keys: KeySet) -> list[Finding | str]:
    hashes = [leaf_hash(bytes.fromhex(x)) for x in case["leaves"]]
    return [] if [root(hashes[:n]).hex() for n in range(len(hashes) + 1)] == case["roots"] else ["mismatch"]


def _check_leaf_v1(case: Case, keys: KeySet) -> list[Finding | str]:
    return [] if leaf_hash(base64.b64decode(case["record"])).hex() == case["leaf_hash"] else ["mismatch"]


def _check_leaf_v0(case: Case, keys: KeySet) -> list[Finding | str]:
    record, leaf = decode(base64.b64decode(case["record"]))
    if leaf.decode() != case["v0"] or hashlib.sha256(leaf).hexdigest() != case["hash"]:
        return ["mismatch"]
    return [] if record.hash == case["hash"] else ["tampered-record"]


def _check_chain(case: Case, keys: KeySet) -> list[Finding | str]:
    return list(check_chain(base64.b64decode(r) for r in case["records"]))


def _check_inclusion(case: Case, keys: KeySet) -> list[Finding | str]:
    ok = included(bytes.fromhex(case["leaf_hash"]), case["index"], case["size"], _hashes(case["proof"]),
                  bytes.fromhex(case["root"]))  # fmt: skip
    return [] if ok else ["tampered-record"]


def _check_consistency(case: Case, keys: KeySet) -> list[Finding | str]:
    ok = consistent(case["first_size"], case["second_size"], bytes.fromhex(case["first"]),
                    bytes.fromhex(case["second"]), _hashes(case["proof"]))  # fmt: skip
    return [] if ok else ["inconsistent"]


def _check_checkpoint(case: Case, keys: KeySet) -> list[Finding | str]:
    parsed, findings = check_checkpoint(case["note"].encode(), keys, case["partition"])
    if parsed and "size" in case and (parsed.size, note.b64(parsed.root)) != (case["size"], case["root"]):
        return ["mismatch"]
    return list(findings)


def _check_pair(case: Case, keys: KeySet) -> list[Finding | str]:
    (older, f1), (newer, f2) = (check_checkpoint(case[k].encode(), keys, case["partition"]) for k in ("older", "newer"))
    if older is None or newer is None:
        return [*f1, *f2]
    proof = [note.unb64(h) for h in case["proof"]]
    return [*f1, *f2, *check_consistency((older.size, older.root), (newer.size, newer.root), proof)]


def _leaves(values: list[str]) -> dict[int, bytes]:
    out = {}
    for value in values:
        raw = base64.b64decode(value)
        out[decode(raw)[0].seq] = leaf_hash(raw)
    return out


def _anchor(data: dict[str, Any] | None) -> Frontier | None:
    return None if data is None else Frontier(data["size"], [note.unb64(h, 32) for h in data["hashes"]])


def _check_partition(case: Case, keys: KeySet) -> list[Finding | str]:
    signed, findings = check_checkpoint(case["checkpoint"].encode(), keys, case["partition"])
    if signed is None:
        return list(findings)
    return [*findings, *check_leaves(_leaves(case["records"]), signed.size, signed.root, _anchor(case["anchor"]))]


def _check_completeness(case: Case, keys: KeySet) -> list[Finding | str]:
    out: list[Finding | str] = []
    notes = []
    for text in case["notes"]:
        parsed, findings = check_completeness(text.encode(), keys)
        out += findings
        notes += [parsed] if parsed else []
    now = note.parse_time(case["now"])
    out += note.check_series(notes, now, timedelta(seconds=case["max_age_seconds"]))
    if notes:
        leaves = {int(p): _leaves(values) for p, values in case["partitions"].items()}
        out += note.check_partitions(notes[-1], leaves)
    return out


def _check_keyset(case: Case, keys: KeySet) -> list[Finding | str]:
    try:
        KeySet.load(json.dumps(case["keyset"]))
    except NoteError:
        return ["malformed"]
    return []


def _check_receipt(case: Case, keys: KeySet) -> list[Finding | str]:
    try:
        receipt = Receipt.from_json(json.dumps(case["receipt"]))
    except NoteError:
        return ["malformed"]
    return list(check_receipt(receipt, keys))


CHECKS: dict[str, Callable[[Case, KeySet], list[Finding | str]]] = {
    "signer": _check_signer, "tree": _check_tree, "leaf-v1": _check_leaf_v1, "leaf-v0": _check_leaf_v0,
    "chain-v0": _check_chain, "inclusion": _check_inclusion, "consistency": _check_consistency,
    "checkpoint": _check_checkpoint, "checkpoint-pair": _check_pair, "partition": _check_partition,
    "completeness": _check_completeness, "keyset": _check_keyset, "receipt": _check_receipt,
}  # fmt: skip


def main() -> int:
    for name, build in FILES.items():
        (HERE / name).write_text(render(build()), encoding="utf-8")
    print(f"wrote {len(FILES)} files to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
