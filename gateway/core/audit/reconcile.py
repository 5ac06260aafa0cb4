"""Loss detection: every raw input in a window must have an audit decision.

An input is known as the worker knows it: a capture by the topic it came on, its camera and its
event id (`records.capture_key`); bytes that never decoded, or a capture whose decision raised,
by its position in the log (`undecodable:<topic>:<partition>:<offset>`). A decision carries the
audit id of that (a digest of the tenant and it), so repeated inputs need one decision between
them and another vendor's capture with the same event id decides nothing of this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.contract.codec import Codec, DecodeError
from gateway.contract.models import AuditRecord, FaceCaptured
from gateway.core.records import UNKNOWN_TENANT, audit_id, capture_key, undecodable_event_id


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


def input_identity(item: RawInput, codec: Codec) -> tuple[str, tuple[str, ...]]:
    """The input's event id (its position in the log, if it has none that decodes) and the audit ids
    a decision of it may carry: as the capture the worker decodes (fully validated, as it does), and
    as a record rejected by its position (undecodable, or whose decision raised)."""
    position = undecodable_event_id(item.topic, item.partition, item.offset)
    rejected = audit_id(UNKNOWN_TENANT, position)  # a capture topic's records name no tenant until decoded
    try:
        capture = codec.decode(item.value, FaceCaptured)
    except DecodeError:
        return position, (rejected,)
    return capture.event_id, (audit_id(capture.tenant_id, capture_key(capture, item.topic)), rejected)


def reconcile(inputs: Iterable[RawInput], audits: Iterable[AuditRecord], codec: Codec) -> tuple[int, list[Undecided]]:
    """(inputs checked, inputs with no decision)."""
    decided = {a.audit_id for a in audits}
    checked, missing = 0, []
    for item in inputs:
        checked += 1
        event_id, identities = input_identity(item, codec)
        if decided.isdisjoint(identities):
            missing.append(Undecided(item.topic, item.partition, item.offset, event_id))
    return checked, missing
