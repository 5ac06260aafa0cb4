"""Signed notes byte for byte as golang.org/x/mod/sumdb/note writes them; strict checkpoint and
completeness bodies; completeness notes that show a vanished or shrunken partition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.audit import note
from gateway.core.audit.note import Checkpoint, Completeness, NoteError, Receipt, SignedNote
from gateway.core.audit.tlog import EMPTY_ROOT, Code, Tree, leaf_hash

# sumdb/note's own test key and note (note_test.go, TestSign): Ed25519 is deterministic, so a
# Python signer must write exactly these bytes.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_NOTE = (
    PETER_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
PETER = Ed25519PrivateKey.from_private_bytes(note.unb64(PETER_SKEY.split("+", 4)[4])[1:])
LOG = "facegate.example/audit"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_python_signed_note_is_the_one_sumdb_note_writes() -> None:
    signed = note.sign(PETER_TEXT, "PeterNeumann", PETER)
    assert signed.encode().decode() == PETER_NOTE
    assert note.signer_key("PeterNeumann", PETER) == PETER_SKEY
    public = note.raw_public(PETER.public_key())
    assert note.verifier_key("PeterNeumann", public) == PETER_VKEY
    assert note.key_id("PeterNeumann", public) == 0xC74F20A3
    assert note.parse_verifier_key(PETER_VKEY) == ("PeterNeumann", 0xC74F20A3, public)


def test_a_note_parses_as_note_open_splits_it() -> None:
    parsed = note.parse(PETER_NOTE.encode())
    assert parsed == SignedNote(PETER_TEXT, parsed.signatures)
    assert note.signature_valid(parsed.text, parsed.signatures[0], note.raw_public(PETER.public_key()))
    assert not note.signature_valid(parsed.text + "x\n", parsed.signatures[0], note.raw_public(PETER.public_key()))
    blank_lines = "a\n\nb\n"  # the text may hold blank lines: the last one separates the signatures
    assert note.parse(note.sign(blank_lines, "n", PETER).encode()).text == blank_lines


@pytest.mark.parametrize(
    "bad",
    [
        PETER_NOTE.replace("\n\n", "\n"),  # no blank line
        PETER_NOTE.rstrip("\n"),  # no final newline
        PETER_NOTE.replace("\u2014 ", "-- "),  # not an em dash
        PETER_NOTE.replace("PeterNeumann x", "Peter+Neumann x"),  # not a key name
        PETER_NOTE.replace("JnAM=\n", "JnAM\n"),  # base64 without its padding
        PETER_NOTE + "\u2014 someone.else AAAAAAAA=\n",  # a padding character too many (Go refuses it)
        PETER_NOTE.replace("If you", "If\tyou"),  # a control character
        # a line break Python knows but note.Open does not, between two signature lines or after one
        *(PETER_NOTE[:-1] + sep + PETER_NOTE.split("\n\n")[1] for sep in ("\u2028", "\u2029", "\u0085", "\x1c")),
        PETER_NOTE[:-1] + "\u2028\n",
    ],
)
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(NoteError):
        note.parse(bad.encode())


def test_verifier_keys_must_carry_their_own_key_id() -> None:
    with pytest.raises(NoteError, match="hash of the name"):
        note.parse_verifier_key(PETER_VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(NoteError):
        note.parse_verifier_key("PeterNeumann+c74f20a3")


@given(st.integers(0, 2**63 - 1), st.binary(min_size=32, max_size=32), st.integers(0, 10**6), st.integers(0, 4095))
def test_checkpoint_bodies_round_trip_exactly(size: int, root: bytes, partition: int, millis: int) -> None:
    at = NOW + timedelta(milliseconds=millis)
    checkpoint = Checkpoint(note.partition_origin(LOG, partition), size, root, at)
    body = checkpoint.body()
    assert Checkpoint.parse(body) == checkpoint and Checkpoint.parse(body).body() == body
    assert checkpoint.partition(LOG) == partition


def test_a_checkpoint_body_is_c2sp_with_a_time_line() -> None:
    body = Checkpoint(f"{LOG}/3", 0, EMPTY_ROOT, NOW).body()
    assert body == f"{LOG}/3\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\ntime 2026-11-26T12:00:00.000Z\n"
    for bad in [body.replace("\n0\n", "\n00\n"), body.replace("time ", "time  "), body + "extra\n",
                body.replace(".000Z", "Z"), body.replace("=\n", "\n")]:  # fmt: skip
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)
    with pytest.raises(NoteError, match="not a partition"):
        Checkpoint.parse(body).partition("other.example/audit")


def _completeness(*heads: tuple[int, bytes], at: datetime = NOW) -> Completeness:
    return Completeness(note.completeness_origin(LOG), at, heads)


def test_completeness_bodies_list_every_partition_in_order() -> None:
    tree = Tree.of(leaf_hash(bytes([i])) for i in range(5))
    body = _completeness((5, tree.root()), (0, EMPTY_ROOT)).body()
    assert body.splitlines()[:3] == [f"{LOG}/completeness", "time 2026-11-26T12:00:00.000Z", "partitions 2"]
    assert Completeness.parse(body).body() == body
    for bad in [body.replace("partitions 2", "partitions 3"), body.replace("\n1 0", "\n2 0")]:
        with pytest.raises(NoteError):
            Completeness.parse(bad)


def test_a_vanished_shrunken_or_forked_partition_is_a_finding() -> None:
    big, small = Tree.of(leaf_hash(bytes([i])) for i in range(9)), Tree.of(leaf_hash(bytes([i])) for i in range(4))
    first = _completeness((9, big.root()), (4, small.root()))
    later = NOW + timedelta(seconds=1)
    assert note.check_series([first, _completeness((9, big.root()), (6, big.root(6)), at=later)]) == []

    def codes(second: Completeness) -> list[Code]:
        return [f.code for f in note.check_series([first, second])]

    assert codes(_completeness((9, big.root()), at=later)) == [Code.PARTITION_MISSING]
    assert codes(_completeness((9, big.root()), (3, small.root(3)), at=later)) == [Code.INCONSISTENT]
    assert codes(_completeness((9, big.root()), (4, big.root(4) + b""), at=later)) == []  # same leaves
    assert codes(_completeness((9, small.root()), (4, small.root()), at=later)) == [Code.INCONSISTENT]
    assert codes(_completeness((9, big.root()), (4, small.root()), at=NOW)) == [Code.INCONSISTENT]
    stale = note.check_series([first], now=NOW + timedelta(seconds=10), max_age=timedelta(seconds=3))
    assert [f.code for f in stale] == [Code.STALE]


def test_completeness_against_the_data_shows_a_deleted_or_cut_back_partition() -> None:
    leaves = {p: {i: leaf_hash(bytes([p, i])) for i in range(6)} for p in range(2)}
    heads = tuple((6, Tree.of(leaves[p].values()).root()) for p in range(2))
    assert note.check_partitions(_completeness(*heads), leaves) == []
    assert [f.code for f in note.check_partitions(_completeness(*heads), {0: leaves[0]})] == [Code.PARTITION_MISSING]
    cut = {0: leaves[0], 1: {i: h for i, h in leaves[1].items() if i < 4}}
    assert [f.code for f in note.check_partitions(_completeness(*heads), cut)] == [Code.MISSING_LEAVES]
    assert [f.code for f in note.check_partitions(_completeness(heads[0]), leaves)] == [Code.PARTITION_MISSING]


def test_a_receipt_round_trips_through_json() -> None:
    receipt = Receipt("evt-1", 3, 0, b"\xc3\x01record", (EMPTY_ROOT,), PETER_NOTE.encode())
    assert Receipt.from_json(receipt.to_json()) == receipt
    for bad in ['{"format": "other"}', "[]", receipt.to_json().replace('"partition": 3', '"partition": "3"')]:
        with pytest.raises(NoteError):
            Receipt.from_json(bad)


def test_times_are_written_in_ascii_digits_only() -> None:
    # Python's \d matches any script's digits, which the Go verifier (and strptime's digits) refuse.
    assert note.parse_time("2026-11-26T12:00:00.000Z") == NOW
    with pytest.raises(NoteError):
        note.parse_time("\uff12\uff10\uff12\uff16-11-26T12:00:00.000Z")
