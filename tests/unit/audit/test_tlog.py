"""The Merkle tree agrees with RFC 6962's published values, and its proofs hold for every shape."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.audit.tlog import (
    EMPTY_ROOT,
    Code,
    Frontier,
    PrunedError,
    Tree,
    check_consistency,
    check_leaves,
    leaf_hash,
    node_hash,
    pieces,
    root,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference leaves and the roots of their first n (n = 0..8).
CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip
CT_CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip
CT_TREE = Tree.of(leaf_hash(x) for x in CT_LEAVES)


def hashes(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]


def test_the_empty_tree_is_the_hash_of_nothing() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert root([]) == EMPTY_ROOT == Tree().root()


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


@pytest.mark.parametrize("n", range(9))
def test_roots_match_rfc_6962(n: int) -> None:
    assert root(leaf_hash(x) for x in CT_LEAVES[:n]).hex() == CT_ROOTS[n]
    assert CT_TREE.root(n).hex() == CT_ROOTS[n]


@pytest.mark.parametrize(("index", "size"), CT_INCLUSION)
def test_inclusion_proofs_match_rfc_6962(index: int, size: int) -> None:
    proof = CT_TREE.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == CT_INCLUSION[index, size]
    assert verify_inclusion(leaf_hash(CT_LEAVES[index]), index, size, proof, CT_TREE.root(size))


@pytest.mark.parametrize(("m", "n"), CT_CONSISTENCY)
def test_consistency_proofs_match_rfc_6962(m: int, n: int) -> None:
    proof = CT_TREE.consistency_proof(m, n)
    assert [p.hex() for p in proof] == CT_CONSISTENCY[m, n]
    assert verify_consistency(m, n, CT_TREE.root(m), CT_TREE.root(n), proof)


def test_the_tree_matches_the_rfc_recursion_for_many_sizes() -> None:
    def mth(leaves: list[bytes]) -> bytes:  # RFC 6962 2.1, literally
        if not leaves:
            return EMPTY_ROOT
        if len(leaves) == 1:
            return leaves[0]
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return node_hash(mth(leaves[:k]), mth(leaves[k:]))

    leaves = hashes(70)
    tree = Tree.of(leaves)
    for n in range(71):
        assert tree.root(n) == mth(leaves[:n]) == root(leaves[:n])


@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies_and_nothing_else_does(size: int, data: st.DataObject) -> None:
    leaves = hashes(size)
    tree = Tree.of(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    top = tree.root()
    assert verify_inclusion(leaves[index], index, size, proof, top)
    assert not verify_inclusion(leaf_hash(b"forged"), index, size, proof, top)
    assert not verify_inclusion(leaves[index], index, size, [*proof, top], top)
    if proof:
        assert not verify_inclusion(leaves[index], index, size, proof[:-1], top)
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not verify_inclusion(leaves[index], index, size, flipped, top)
    if size > 1:
        other = (index + 1) % size
        assert not verify_inclusion(leaves[index], other, size, proof, top) or leaves[other] == leaves[index]


@given(st.integers(0, 300), st.data())
def test_every_consistency_proof_verifies_and_a_fork_does_not(n: int, data: st.DataObject) -> None:
    leaves = hashes(n)
    tree = Tree.of(leaves)
    m = data.draw(st.integers(0, n))
    proof = tree.consistency_proof(m, n)
    assert verify_consistency(m, n, tree.root(m), tree.root(n), proof)
    assert check_consistency((m, tree.root(m)), (n, tree.root(n)), proof) == []
    if 0 < m < n:
        fork = Tree.of([*leaves[: m - 1], leaf_hash(b"rewritten"), *leaves[m:]])
        assert not verify_consistency(m, n, fork.root(m), tree.root(n), proof)
        assert not verify_consistency(m, n, tree.root(m), tree.root(n), proof[:-1])
        codes = [f.code for f in check_consistency((m, fork.root(m)), (n, tree.root(n)), proof)]
        assert codes == [Code.INCONSISTENT]


@given(st.integers(0, 200), st.integers(0, 200))
def test_a_frontier_carries_the_root_and_the_proofs_of_a_pruned_prefix(start: int, more: int) -> None:
    leaves = hashes(start + more)
    full = Tree.of(leaves)
    frontier = full.frontier(start)
    assert len(frontier.hashes) == bin(start).count("1") == len(pieces(0, start))
    pruned = Tree.of(leaves[start:], frontier)
    assert pruned.root() == full.root()
    streaming = frontier.copy()
    for h in leaves[start:]:
        streaming.append(h)
    assert streaming.root() == full.root() and streaming == full.frontier()
    n = start + more
    for i in range(start, n, max(1, more // 7)):
        assert pruned.inclusion_proof(i, n) == full.inclusion_proof(i, n)
    for m in range(start, n + 1, max(1, more // 5)):
        assert pruned.consistency_proof(m, n) == full.consistency_proof(m, n)


def test_a_pruned_tree_says_so_instead_of_guessing() -> None:
    pruned = Tree.of(hashes(10)[8:], Tree.of(hashes(10)).frontier(8))
    with pytest.raises(PrunedError):
        pruned.inclusion_proof(3, 10)
    with pytest.raises(ValueError, match="frontier of size 3"):
        Frontier(3, [b"x" * 32])


def test_leaves_are_checked_against_a_signed_root() -> None:
    leaves = hashes(12)
    tree = Tree.of(leaves)
    present = dict(enumerate(leaves))
    assert check_leaves(present, 12, tree.root()) == []
    assert check_leaves(present, 10, tree.root(10)) == []  # later leaves are not yet covered
    gap = {i: h for i, h in present.items() if i != 4}
    assert [f.code for f in check_leaves(gap, 12, tree.root())] == [Code.MISSING_LEAVES]
    altered = {**present, 7: leaf_hash(b"altered")}
    assert [f.code for f in check_leaves(altered, 12, tree.root())] == [Code.TAMPERED_RECORD]
    after_retention = {i: h for i, h in present.items() if i >= 5}
    assert [f.code for f in check_leaves(after_retention, 12, tree.root())] == [Code.MISSING_LEAVES]
    findings = check_leaves(after_retention, 12, tree.root(), tree.frontier(5))
    assert [f.code for f in findings] == [Code.PRUNED] and not findings[0].is_error
