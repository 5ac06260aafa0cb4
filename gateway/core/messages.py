"""What the core reads and writes: Kafka-shaped records without Kafka."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.core.policy.outcome import Outcome


@dataclass(frozen=True)
class InputRecord:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int = 0  # the broker's record timestamp: deterministic when a record is redone
    key: bytes | None = None


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone on a compacted topic
    partition: int | None = None


@dataclass
class BatchResult:
    outputs: list[Output] = field(default_factory=list)
    seen: list[tuple[int, str]] = field(default_factory=list)  # (input partition, event id) now decided
    duplicates: int = 0
    decisions: list[tuple[str, Outcome]] = field(default_factory=list)  # (tenant, outcome) for metrics
    errors: list[str] = field(default_factory=list)  # records that raised: where, never what (for the log)
