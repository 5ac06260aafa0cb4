"""RFC 6962 / RFC 9162 Merkle trees over an audit partition's records (docs/audit-format.md).

Leaf i of a partition's tree is its AuditRecord with seq i. Hashes are SHA-256 with the RFC's
domain separation (0x00 before a leaf, 0x01 before two children), so a leaf can never pass for
a node. A writer keeps only a `Frontier` (the compact range [0, n): one hash per set bit of n);
a prover keeps a `Tree` of every perfect subtree. Both may start from a frontier instead of
leaf 0, which is how a log whose oldest records the broker has deleted still verifies.
Pure: bytes in, bytes out; no Kafka.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.errors import FaceGateError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962 2.1: the hash of an empty list


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than n (n >= 2): the RFC's left subtree size."""
    return 1 << ((n - 1).bit_length() - 1)


def pieces(lo: int, hi: int) -> list[tuple[int, int]]:
    """The maximal perfect subtrees (level, index) that tile [lo, hi), left to right.

    For lo = 0 this is the compact range of the first hi leaves; folding their hashes from the
    right gives the RFC 6962 root, since each left piece is the RFC's largest power of two.
    """
    out = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo % (1 << level):  # a piece must be aligned to its own size
            level -= 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root over a compact range's hashes (largest first)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH(D[n]) of the given leaf hashes, in O(log n) memory."""
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


class PrunedError(FaceGateError, LookupError):
    """A hash the tree does not hold: it lies inside a pruned prefix, or beyond the tree."""


@dataclass
class Frontier:
    """The compact range [0, size): what a writer or a streaming verifier keeps per partition."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.hashes) != self.size.bit_count() or any(len(h) != HASH_SIZE for h in self.hashes):
            raise ValueError(f"a frontier of size {self.size} holds {self.size.bit_count()} 32-byte hashes")

    def append(self, leaf: bytes) -> None:
        self.hashes.append(leaf)
        n = self.size
        while n & 1:  # binary carry: equal-sized neighbours merge into their parent
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            n >>= 1
        self.size += 1

    def root(self) -> bytes:
        return fold(self.hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.hashes))


class Tree:
    """Every perfect subtree's hash by (level, index), as sumdb/tlog stores them: proofs in O(log n)."""

    def __init__(self, start: Frontier | None = None) -> None:
        self.start = start.size if start else 0  # leaves below this are pruned
        self.size = self.start
        self._nodes: dict[tuple[int, int], bytes] = {}
        for (level, index), h in zip(pieces(0, self.size), start.hashes if start else [], strict=True):
            self._nodes[level, index] = h

    @classmethod
    def of(cls, leaf_hashes: Iterable[bytes], start: Frontier | None = None) -> Tree:
        tree = cls(start)
        for h in leaf_hashes:
            tree.append(h)
        return tree

    def append(self, leaf: bytes) -> None:
        index, level, h = self.size, 0, leaf
        self._nodes[0, index] = h
        while index & 1:  # a right child completes its parent
            h = node_hash(self._nodes[level, index - 1], h)
            index, level = index >> 1, level + 1
            self._nodes[level, index] = h
        self.size += 1

    def node(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[level, index]
        except KeyError:
            raise PrunedError(f"no hash for the {1 << level} leaves from {index << level}") from None

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for an RFC 6962 subtree (lo aligned), hi <= size."""
        if hi > self.size:
            raise PrunedError(f"the tree has {self.size} leaves, not {hi}")
        return fold([self.node(level, index) for level, index in pieces(lo, hi)])

    def root(self, n: int | None = None) -> bytes:
        return self.subtree(0, self.size if n is None else n)

    def frontier(self, n: int | None = None) -> Frontier:
        n = self.size if n is None else n
        return Frontier(n, [self.node(level, index) for level, index in pieces(0, n)])

    def inclusion_proof(self, index: int, n: int) -> list[bytes]:
        """RFC 9162 2.1.3.1 PATH(index, D[n]), nearest the leaf first."""
        if not 0 <= index < n <= self.size:
            raise ValueError(f"no leaf {index} in a tree of {n}")
        return self._path(index, 0, n)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = split_point(hi - lo)
        if m < lo + k:
            return [*self._path(m, lo, lo + k), self.subtree(lo + k, hi)]
        return [*self._path(m, lo + k, hi), self.subtree(lo, lo + k)]

    def consistency_proof(self, m: int, n: int) -> list[bytes]:
        """RFC 9162 2.1.4.1 PROOF(m, D[n]); empty when m is 0 or m == n."""
        if not 0 <= m <= n <= self.size:
            raise ValueError(f"no consistency proof from {m} to {n} in a tree of {self.size}")
        return self._subproof(m, 0, n, True) if m > 0 else []

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        if m == hi:
            return [] if whole else [self.subtree(lo, hi)]
        k = split_point(hi - lo)
        if m <= lo + k:
            return [*self._subproof(m, lo, lo + k, whole), self.subtree(lo + k, hi)]
        return [*self._subproof(m, lo + k, hi, False), self.subtree(lo, lo + k)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 2.1.3.2: does `proof` place the leaf hash at `index` of the tree with this root?"""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(m: int, n: int, first: bytes, second: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: is the tree (m, first) a prefix of the tree (n, second)?"""
    if not 0 <= m <= n or any(len(p) != HASH_SIZE for p in proof):
        return False
    if m == 0:
        return not proof and first == EMPTY_ROOT
    if m == n:
        return not proof and first == second
    path = list(proof)
    if m & (m - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, first)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first and sr == second


class Code(StrEnum):
    """What a verifier reports (docs/audit-format.md, "Findings")."""

    TAMPERED_RECORD = "tampered-record"
    MISSING_LEAVES = "missing-leaves"
    INCONSISTENT = "inconsistent"
    PARTITION_MISSING = "partition-missing"
    STALE = "stale"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_KEY = "unknown-key"
    KEY_OUTSIDE_VALIDITY = "key-outside-validity"
    REVOKED_KEY = "revoked-key"
    MALFORMED = "malformed"
    PRUNED = "pruned-before-checkpoint"  # information, not tampering


INFORMATION = frozenset({Code.PRUNED})


@dataclass(frozen=True)
class Finding:
    code: Code
    detail: str

    @property
    def is_error(self) -> bool:
        return self.code not in INFORMATION


def check_leaves(
    leaves: Mapping[int, bytes], size: int, root_hash: bytes, anchor: Frontier | None = None
) -> list[Finding]:
    """Do the leaf hashes present (by index), after the anchor's pruned prefix, give this signed root?

    Leaves below the anchor are covered by its hashes and ignored; every leaf from the anchor to
    `size` must be present. A pruned prefix is reported as information.
    """
    start = anchor.size if anchor else 0
    if start > size:
        return [Finding(Code.MALFORMED, f"the anchor ({start} leaves) is beyond the checkpoint ({size})")]
    findings = [Finding(Code.PRUNED, f"leaves 0..{start - 1} pruned, covered by their hashes")] if start else []
    absent = [i for i in range(start, size) if i not in leaves]
    if absent:
        return [*findings, Finding(Code.MISSING_LEAVES, f"{len(absent)} leaves absent, the first {absent[0]}")]
    frontier = anchor.copy() if anchor else Frontier()
    for i in range(start, size):
        frontier.append(leaves[i])
    if frontier.root() != root_hash:
        findings.append(Finding(Code.TAMPERED_RECORD, f"leaves {start}..{size - 1} do not give the signed root"))
    return findings


def check_consistency(
    older: tuple[int, bytes], newer: tuple[int, bytes], proof: Sequence[bytes] | None
) -> list[Finding]:
    """Two signed (size, root) heads of one log: the older must be a prefix of the newer."""
    (m, first), (n, second) = older, newer
    if m > n:
        return [Finding(Code.INCONSISTENT, f"the log went back from size {m} to {n}")]
    if m == n and first != second:
        return [Finding(Code.INCONSISTENT, f"two roots for size {m}: a fork")]
    if m != n and (proof is None or not verify_consistency(m, n, first, second, proof)):
        return [Finding(Code.INCONSISTENT, f"no valid consistency proof from size {m} to {n}: a fork")]
    return []
