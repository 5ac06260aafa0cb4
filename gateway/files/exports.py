"""The audit stream as a file a regulator can keep: one JSON line per record, bytes in base64,
with the partition and offset it had on the topic (verification needs both)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from gateway.core.audit.verify import LogEntry


def write_export(entries: Iterable[LogEntry], path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
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
                data = json.loads(line)
                yield LogEntry(int(data["partition"]), int(data["offset"]), base64.b64decode(data["value"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{path.name} line {number}: not an audit export line ({type(exc).__name__})"
                ) from None
