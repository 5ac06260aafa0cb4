"""What leaves the gateway for one decision: the audit record's content, the tenant's governed
event and the dead letter. Deterministic ids, so reprocessing after a crash repeats the same
records and consumers can drop duplicates. None of these carry a raw template or an image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gateway.contract.models import MAX_REASON_LENGTH, CameraRegistration, FaceCaptured, GovernedFace, RejectedEvent
from gateway.contract.vocabulary import Decision
from gateway.core.messages import InputRecord
from gateway.core.policy.decision import score_band
from gateway.core.policy.outcome import Outcome, merged
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule

if TYPE_CHECKING:
    from gateway.core.context import Decided
    from gateway.core.policy.pack import JurisdictionPack

UNKNOWN_TENANT = "_unknown"  # the tenant of input too broken to name one
NO_POLICY = "none"  # the policy version of a decision made without a tenant policy


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@lru_cache(maxsize=4096)  # asked a few times per capture: at intake, for its governed event and its audit record
def audit_id(tenant_id: str, key: str) -> str:
    """A decision's id, by which its repeats are known (the dedupe window holds these): a digest of
    the tenant and what the decision is known by, a capture's `capture_key` or the event id the
    gateway gave anything else."""
    return "a-" + _digest("audit", tenant_id, key)


def capture_key(capture: FaceCaptured, topic: str) -> str:
    """What a capture is known by: the topic it came on (one vendor's alone: the writer), its camera
    and its event id. Vendors name their captures and two vendors' ids may coincide: none can make
    another's captures count as repeats. Fixed by the record alone, never by the registry at the
    time, so a redo is known as its first decision was. (Topic names hold no ':'.)"""
    return f"capture:{topic}:{len(capture.camera_id)}:{capture.camera_id}:{capture.event_id}"


LIFECYCLE_EVENTS = ("consent:", "enrollment:", "erasure:", "share:")  # prefixes of the ids below


def decided_a_capture(event_id: str) -> bool:
    """Whether an audit record's event is a capture (the lifecycle's event ids name their kind)."""
    return not event_id.startswith(LIFECYCLE_EVENTS)


def consent_event_id(topic: str, partition: int, offset: int) -> str:
    """A consent version's place in the log: stable on a redo, and no subject id in the audit."""
    return f"consent:{topic}:{partition}:{offset}"


def enrollment_event_id(topic: str, partition: int, offset: int) -> str:
    """Enrollments carry no id of their own: their place in the log is one, stable on a redo."""
    return f"enrollment:{topic}:{partition}:{offset}"


def erasure_event_id(tenant_id: str, subject_id: str, reason: str, effective_ms: int) -> str:
    """One erasure per cause; a digest, because the tenant's subject id must not reach the audit."""
    return "erasure:" + _digest(tenant_id, subject_id, reason, str(effective_ms))


def share_event_id(tenant_id: str, request_id: str, subject_pseudonym: str, recipient_tenant_id: str) -> str:
    """A request's id names its subject (by a keyed pseudonym: the recipient receives the id) and
    recipient too: a tenant reusing a request id for another share makes another decision, never
    a repeat."""
    return "share:" + _digest(tenant_id, request_id, subject_pseudonym, recipient_tenant_id)


def undecodable_event_id(topic: str, partition: int, offset: int) -> str:
    """An id for input that had none we could read: its position in the log."""
    return f"undecodable:{topic}:{partition}:{offset}"


def audit_fields(
    decided: Decided,
    *,
    policy_version: str,
    recorded_at: datetime,
    subject_pseudonym: str | None,
    pack: JurisdictionPack | None,
    legal_sources: list[str],
) -> dict[str, Any]:
    """The content of one audit record (the chain adds seq, prev_hash and hash). The legal
    sources are those the tenant's pack, which the record names, gives the outcome's rules and
    alerts (`pack.sources`; the caller works them out once per batch); none without a pack."""
    capture, outcome = decided.capture, decided.outcome
    fields: dict[str, Any] = {
        "audit_id": decided.audit_id,
        "event_id": decided.event_id,
        "tenant_id": decided.tenant_id,
        "camera_id": capture.camera_id if capture else None,
        "site_id": decided.camera.site_id if decided.camera else None,
        "decision": outcome.decision,
        "rule_ids": outcome.rule_ids,  # codes: validating the record makes them plain strings
        "reason_codes": outcome.reason_codes,
        "legal_sources": legal_sources,
        "alerts": outcome.alerts,
        "purpose": capture.purpose if capture else decided.purpose,
        "recipient_tenant_id": decided.recipient_tenant_id,
        "policy_version": policy_version,
        "consent_ref": outcome.consent_ref,
        "consent_method": decided.consent.method if decided.consent else None,
        "evidence_ref": decided.consent.evidence_ref if decided.consent else None,
        "subject_pseudonym": subject_pseudonym,
        "match_score_band": score_band(outcome.score),
        "event_time": capture.captured_at if capture else None,
        "pack_id": pack.id if pack is not None else None,
        "pack_version": pack.version if pack is not None else None,
        "recorded_at": recorded_at,
    }
    if (used := decided.identification) is not None:  # an identification ran: the EU AI Act art. 12(3) log
        fields.update(
            reference_database=used.reference_database, use_started_at=used.started, use_ended_at=used.ended,
            verified_by=None,
        )  # fmt: skip
    return fields


def codes(values: Iterable[StrEnum]) -> list[str]:
    """Stable codes as plain strings: what the contract's records carry."""
    return list(map(str, values))  # StrEnum: str() is the value, without the .value descriptor (hot path)


def tenant_view(outcome: Outcome, identified: bool) -> Outcome:
    """What the tenant may learn of a decision. A capture stripped after identification says only
    that it was not identified: whether the face matched nobody or a subject whose consent does
    not allow this use (withdrawn, another purpose, a minor) is for the audit alone, or the tenant
    would learn that a known subject stood at that camera. Reasons that do not depend on a match
    (quality, masks, an unknown model, the discarded image) are the tenant's to know."""
    if outcome.decision is not Decision.STRIPPED or not identified:
        return outcome
    image = [r for r in outcome.reason_codes if r is Reason.IMAGE_DISCARDED]
    rules = (Rule.SEPARATE_CONSENT, Rule.TEMPLATE_PROTECTION, *(Rule.NO_RAW_IMAGE for _ in image))
    return Outcome(Decision.STRIPPED, merged(rules), merged((Reason.NOT_IDENTIFIED,), image))


def governed_face(
    capture: FaceCaptured,
    camera: CameraRegistration,
    outcome: Outcome,
    policy_version: str,
    pseudonym: str | None,
    protected: tuple[bytes | None, int | None],
    audit: str,
) -> dict[str, Any]:
    """The tenant's view, as the GovernedFace datum the decision path encodes (validated, no model
    built): a pseudonymous FORWARDED event, or an anonymous STRIPPED presence. `protected`: the
    template protected for the tenant and its key version, if forwarded so; `audit`: the id of the
    decision's audit record, which the event names."""
    if outcome.decision not in (Decision.FORWARDED, Decision.STRIPPED):
        raise ValueError(f"{outcome.decision} decisions send nothing to the tenant")
    forwarded = outcome.decision is Decision.FORWARDED
    protected_template, key_version = protected
    return GovernedFace.validated_datum(
        {
            "event_id": capture.event_id,
            "audit_id": audit,
            "tenant_id": capture.tenant_id,
            "camera_id": capture.camera_id,
            "site_id": camera.site_id,
            "captured_at": capture.captured_at,
            "purpose": capture.purpose,
            "decision": outcome.decision,
            "pseudonym": pseudonym if forwarded else None,
            "protected_template": protected_template if forwarded else None,
            "template_key_version": key_version if forwarded and protected_template is not None else None,
            "rule_ids": outcome.rule_ids,  # as in the audit record: validated to plain strings
            "reason_codes": outcome.reason_codes,
            "policy_version": policy_version,
        }
    )


def bounded(reason: str, limit: int = MAX_REASON_LENGTH) -> str:
    """`reason` cut to `limit` characters, saying how many it lost: a reason may describe input a
    producer wrote (a decode error names each bad field), and a dead letter must stay small
    enough for Kafka to take it (a refused one stops the worker, on every restart)."""
    if len(reason) <= limit:
        return reason
    kept = limit - 40  # room for the count, whatever its digits
    return f"{reason[:kept]} ... and {len(reason) - kept:,} more characters"


def rejected_event(
    record: InputRecord, reason_code: str, reason: str, rejected_at: datetime, capture: FaceCaptured | None = None
) -> RejectedEvent:
    """A dead letter: where the input was, why it was refused (`bounded`), a digest of it; no biometric field."""
    payload = record.value or b""
    return RejectedEvent(
        rejected_id="r-" + _digest("rejected", record.topic, str(record.partition), str(record.offset)),
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        reason_code=reason_code,
        reason=bounded(reason),
        event_id=capture.event_id if capture else None,
        tenant_id=capture.tenant_id if capture else None,
        camera_id=capture.camera_id if capture else None,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_size=len(payload),
        rejected_at=rejected_at,
    )
