"""What a regulator keeps between two verifications (docs/audit-format.md §9): per partition the
newest checkpoint it verified, with the frontier of the tree at that size, and the newest
completeness note. The next run checks today's log against them (a rewind or a fork is a finding)
and starts each partition's tree from the kept frontier, so records the broker has deleted since
are pruned, not missing. A kept document is signed; a frontier must fold to its checkpoint's root.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.audit import note
from gateway.core.audit.keyset import KeySet, check_checkpoint
from gateway.core.audit.note import Checkpoint, NoteError, typed
from gateway.core.audit.tlog import Code, Finding, Frontier, fold

ANCHORS_FORMAT = "facegate-anchors/v1"
_REQUIRED = ("format", "log", "partitions")
_KEPT = ("partition", "checkpoint", "size", "hashes")


@dataclass(frozen=True)
class KeptHead:
    note: bytes  # the signed checkpoint
    frontier: Frontier

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint.parse(note.parse(self.note).text)


@dataclass(frozen=True)
class Anchors:
    log: str
    partitions: Mapping[int, KeptHead]
    completeness: bytes | None = None  # the signed completeness note

    def dump(self) -> str:
        return json.dumps(
            {
                "format": ANCHORS_FORMAT,
                "log": self.log,
                "partitions": [
                    {"partition": p, "checkpoint": head.note.decode(), "size": head.frontier.size,
                     "hashes": [note.b64(h) for h in head.frontier.hashes]}
                    for p, head in sorted(self.partitions.items())
                ],
                "completeness": None if self.completeness is None else self.completeness.decode(),
            },
            indent=2,
        ) + "\n"  # fmt: skip

    @classmethod
    def load(cls, text: str, keys: KeySet) -> tuple[Anchors, list[Finding]]:
        """The kept heads whose signatures still verify under `keys`, and findings for the others."""
        try:
            data = note.json_members(note.load_json(text), (*_REQUIRED, "completeness"), _REQUIRED)
            if data["format"] != ANCHORS_FORMAT or data["log"] != keys.log:
                raise NoteError(f"not a {ANCHORS_FORMAT} document of log {keys.log!r}")
            entries = [_kept(note.json_members(e, _KEPT, _KEPT)) for e in typed(data["partitions"], list)]
            completeness = data.get("completeness")
            if completeness is not None:
                typed(completeness, str)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return cls(keys.log, {}), [Finding(Code.MALFORMED, f"the anchor file: {exc}")]
        heads: dict[int, KeptHead] = {}
        findings = []
        for partition, signed, size, hashes in entries:
            checkpoint, found = check_checkpoint(signed, keys, partition)
            findings += [Finding(f.code, f"kept checkpoint of partition {partition}: {f.detail}") for f in found]
            try:
                frontier = Frontier(size, hashes)
            except ValueError:
                frontier = None
            if checkpoint is None:
                continue
            if frontier is None or frontier.size != checkpoint.size or fold(frontier.hashes) != checkpoint.root:
                findings.append(Finding(Code.MALFORMED, f"kept frontier of partition {partition} is not its root's"))
                continue
            heads[partition] = KeptHead(signed, frontier)
        return cls(keys.log, heads, completeness.encode() if isinstance(completeness, str) else None), findings


def _kept(entry: Mapping[str, Any]) -> tuple[int, bytes, int, list[bytes]]:
    hashes = [note.unb64(typed(h, str), 32) for h in typed(entry["hashes"], list)]
    return typed(entry["partition"], int), typed(entry["checkpoint"], str).encode(), typed(entry["size"], int), hashes
