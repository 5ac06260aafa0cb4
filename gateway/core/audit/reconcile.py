"""Loss detection: every raw input in a window must have an audit decision.

An input's identity is its event id, or for bytes that never decoded, its position in the log
(the audit names those `undecodable:<topic>:<partition>:<offset>`). Repeated inputs with one
event id need one decision between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.contract.codec import Codec, DecodeError
from gateway.contract.models import AuditRecord, FaceCaptured
from gateway.core.records import undecodable_event_id


@dataclass(frozen=True)
class RawInput:
    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class Undecided:
    topic: str
    partition: int
    offset: int
    event_id: str


def input_identity(item: RawInput, codec: Codec) -> str:
    try:
        return codec.decode_datum(item.value, expected=FaceCaptured.avro_name)[1]["event_id"]  # type: ignore[no-any-return]
    except (DecodeError, KeyError):
        return undecodable_event_id(item.topic, item.partition, item.offset)


def reconcile(inputs: Iterable[RawInput], audits: Iterable[AuditRecord], codec: Codec) -> tuple[int, list[Undecided]]:
    """(inputs checked, inputs with no decision)."""
    decided = {a.event_id for a in audits}
    checked, missing = 0, []
    for item in inputs:
        checked += 1
        identity = input_identity(item, codec)
        if identity not in decided:
            missing.append(Undecided(item.topic, item.partition, item.offset, identity))
    return checked, missing
