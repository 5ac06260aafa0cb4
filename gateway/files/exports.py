"""The audit stream as a file a regulator can keep: one JSON line per record, bytes in base64,
with the partition and offset it had on the topic (verification needs both). The first line is
a header (docs/audit-format.md §9): the topic's partition count, each partition's log-start and
end offsets at export time, so records the broker deleted by retention show as such."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gateway.core.audit.note import json_members, load_json, typed, unb64
from gateway.core.audit.verify import LogEntry

EXPORT_FORMAT = "facegate-audit-export/v1"
HEADER_MEMBERS = ("format", "topic", "exported_at", "partitions", "log_start_offsets", "end_offsets")
LINE_MEMBERS = ("partition", "offset", "value")


def export_header(topic: str, starts: dict[int, int], ends: dict[int, int], exported_at: str) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "topic": topic,
        "exported_at": exported_at,
        "partitions": len(ends),
        "log_start_offsets": [starts.get(p, 0) for p in range(len(ends))],
        "end_offsets": [ends[p] for p in range(len(ends))],
    }


def write_export(entries: Iterable[LogEntry], path: Path, header: dict[str, Any] | None = None) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        if header is not None:
            handle.write(json.dumps(header) + "\n")
        for entry in entries:
            line = {
                "partition": entry.partition,
                "offset": entry.offset,
                "value": base64.b64encode(entry.value).decode(),
            }
            handle.write(json.dumps(line) + "\n")
            count += 1
    return count


def read_export(path: Path) -> Iterator[LogEntry]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = load_json(line)
                if number == 1 and isinstance(data, dict) and "format" in data:
                    if json_members(data, HEADER_MEMBERS)["format"] != EXPORT_FORMAT:
                        raise ValueError("not an export header")
                    continue
                # Exactly these names (the Go verifier reads the same), canonical base64 (§ conventions).
                data = json_members(data, LINE_MEMBERS, LINE_MEMBERS)
                partition, offset = typed(data["partition"], int), typed(data["offset"], int)
                if partition < 0:  # no partition's record: read as one, -1 named another partition's note line
                    raise ValueError("a partition is a number from 0")
                yield LogEntry(partition, offset, unb64(typed(data["value"], str)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{path.name} line {number}: not an audit export line ({type(exc).__name__})"
                ) from None


def read_export_header(path: Path) -> dict[str, Any] | None:
    """The export's header, or None for an export written before 0.2.0 (records only)."""
    with path.open(encoding="utf-8") as handle:
        try:
            first = json.loads(handle.readline() or "{}")
        except ValueError:
            return None
    return first if isinstance(first, dict) and first.get("format") == EXPORT_FORMAT else None
