"""A receipt for one decision (docs/audit-format.md §8): its record, the inclusion proof of its leaf
and the newest signed checkpoint covering it, checkable offline with the key set alone."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.contract.codec import Codec, DecodeError
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit import note
from gateway.core.audit.note import Checkpoint, NoteError, Receipt
from gateway.core.audit.tlog import Frontier, Tree, fold, leaf_hash
from gateway.core.audit.verify import LogEntry


def prove(entries: Iterable[LogEntry], codec: Codec, log: str, event_id: str) -> Receipt | None:
    """The receipt of `event_id`'s first audit record, or None if it is not in a signed checkpoint yet."""
    values: dict[int, list[tuple[int, bytes]]] = {}
    checkpoints: dict[int, list[tuple[Checkpoint, bytes, Frontier | None]]] = {}
    found: tuple[int, int, bytes] | None = None
    for entry in sorted(entries, key=lambda e: (e.partition, e.offset)):
        try:
            record = codec.decode_any(entry.value)
        except DecodeError:
            continue
        if isinstance(record, AuditRecord):
            values.setdefault(entry.partition, []).append((record.seq, entry.value))
            if found is None and record.event_id == event_id:
                found = (entry.partition, record.seq, entry.value)
        elif isinstance(record, AuditCheckpoint) and record.note.startswith(f"{log}/{entry.partition}\n"):
            try:
                checkpoint = Checkpoint.parse(note.parse(record.note.encode()).text)
                frontier: Frontier | None = Frontier(checkpoint.size, list(record.frontier))
            except NoteError:
                continue
            except ValueError:
                frontier = None
            if frontier is not None and fold(frontier.hashes) != checkpoint.root:
                frontier = None
            checkpoints.setdefault(entry.partition, []).append((checkpoint, record.note.encode(), frontier))
    if found is None:
        return None
    partition, index, value = found
    covering = [c for c in checkpoints.get(partition, []) if c[0].size > index]
    if not covering:
        return None
    checkpoint, signed, _ = max(covering, key=lambda c: (c[0].size, c[0].time))
    leaves = dict(values[partition])
    # Start from leaf 0, or from the largest published frontier at or below the leaf (pruned prefix).
    anchors = [f for c in checkpoints[partition] if (f := c[2]) is not None and f.size <= index]
    start = None if 0 in leaves else max(anchors, key=lambda f: f.size, default=None)
    tree = Tree(start)
    while tree.size < checkpoint.size and tree.size in leaves:
        tree.append(leaf_hash(leaves[tree.size]))
    if tree.size < checkpoint.size or tree.root() != checkpoint.root:
        return None  # the log does not give the checkpoint: `facegate audit verify` says why
    proof = tuple(tree.inclusion_proof(index, checkpoint.size))
    return Receipt(event_id, partition, index, value, proof, signed)
