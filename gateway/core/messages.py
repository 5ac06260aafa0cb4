"""What the core reads and writes: Kafka-shaped records without Kafka."""

from __future__ import annotations

from collections.abc import Sequence
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
    value: bytes | None = field(repr=False)  # a raw capture or enrollment: never in a repr
    timestamp_ms: int = 0  # the broker's record timestamp: deterministic when a record is redone
    key: bytes | None = None


def broker_time(timestamp_ms: int) -> datetime | None:
    """A record's append time, or None if it has none (a test) or one no calendar holds: a topic
    not stamped by the broker carries its producer's stamp, any 64-bit number."""
    if timestamp_ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def ahead_of_broker(timestamp_ms: int, skew: timedelta, *claimed: datetime | None) -> bool:
    """Whether a time a producer claims lies beyond the broker's append time (`timestamp_ms`) plus
    `skew`. Without a broker time (a test, or a broker that does not stamp) nothing is bounded."""
    appended = broker_time(timestamp_ms)
    return appended is not None and any(t is not None and t > appended + skew for t in claimed)


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes
    value: bytes | None = field(repr=False)  # None: a tombstone on a compacted topic; never in a repr
    partition: int | None = None


@dataclass
class BatchResult:
    outputs: list[Output] = field(default_factory=list)
    seen: list[tuple[int, str]] = field(default_factory=list)  # (audit partition, audit id) now decided
    duplicates: int = 0
    decisions: list[tuple[str, Outcome]] = field(default_factory=list)  # (tenant, outcome) for metrics
    errors: list[str] = field(default_factory=list)  # records that raised: where, never what (for the log)


def in_produce_order(outputs: Sequence[Output], audit: str, enrolled: str) -> list[tuple[str, list[Output]]]:
    """A batch's outputs in the steps the shell produces them, each acknowledged before the next:
    the effects (governed events, notices, withdrawals, dead letters, protected templates), then
    the audit records, then the `enrolled` records from the batch's first tombstone on, if any.

    A redo skips what the audit log holds only for a capture, whose effects go first; an enrollment
    or an erasure is decided again and writes its effects again, and a redo reads the `enrolled`
    topic: a tombstone Kafka took before the notices or the audit record would hide from the redo
    (or from the next sweep) the template whose companies were to be told and the erasure that was
    to be audited, so tombstones go last. A template goes before its audit record (an ENROLLED
    record means its template is in Kafka), unless an earlier tombstone of the batch might be for
    the same subject: then it follows it, in order."""
    cut = next((i for i, o in enumerate(outputs) if o.topic == enrolled and o.value is None), len(outputs))
    effects = [o for i, o in enumerate(outputs) if o.topic != audit and (i < cut or o.topic != enrolled)]
    steps = [("effects", effects), ("audit", [o for o in outputs if o.topic == audit])]
    last = [o for o in outputs[cut:] if o.topic == enrolled]
    return [*steps, ("enrolled", last)] if last else steps  # a capture's batch has none


def record_key(key: bytes | None) -> str:
    """A record's key as text: "" for none and for one that is not UTF-8, which names no subject
    or camera. Read leniently, `acme/alice\\xff` was `acme/alice\\ufffd`, the key of a body naming
    that subject, which Kafka keeps apart from it: the agent refused such a record by its bytes
    and yet applied it, and the feeds applied it too."""
    try:
        return key.decode() if key is not None else ""
    except UnicodeDecodeError:
        return ""
