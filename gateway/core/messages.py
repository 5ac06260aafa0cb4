"""What the core reads and writes: Kafka-shaped records without Kafka."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


def ahead_of_broker(timestamp_ms: int, skew: timedelta, *claimed: datetime | None) -> bool:
    """Whether a time a producer claims lies beyond the broker's append time (`timestamp_ms`) plus
    `skew`. Without a broker time (a test, or a broker that does not stamp) nothing is bounded."""
    if timestamp_ms <= 0:
        return False
    appended = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return any(t is not None and t > appended + skew for t in claimed)


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone on a compacted topic
    partition: int | None = None


@dataclass
class BatchResult:
    outputs: list[Output] = field(default_factory=list)
    seen: list[tuple[int, str]] = field(default_factory=list)  # (audit partition, audit id) now decided
    duplicates: int = 0
    decisions: list[tuple[str, Outcome]] = field(default_factory=list)  # (tenant, outcome) for metrics
    errors: list[str] = field(default_factory=list)  # records that raised: where, never what (for the log)
