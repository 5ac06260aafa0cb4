"""One batch of raw captures in, everything that must be produced out. Pure: no Kafka here.

Per record: decode (bad bytes become a dead letter), drop repeated event ids, screen; then the
captures that need identification are protected and searched together, per tenant and model,
which is what makes 1:N search affordable; then conclude, and build the audit record (chained
per audit partition), the tenant's governed event and any dead letter. Every input yields one
audit record, except a repeated event id, which yields nothing and is counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from gateway.contract.codec import DecodeError
from gateway.contract.models import FaceCaptured
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.log import audit_output
from gateway.core.biometrics.matching import Match
from gateway.core.messages import BatchResult, InputRecord, Output
from gateway.core.policy.decision import Identify, Outcome, conclude, identification_threshold, screen
from gateway.core.records import (
    NO_POLICY,
    UNKNOWN_TENANT,
    audit_fields,
    governed_face,
    rejected_event,
    undecodable_event_id,
)
from gateway.core.state import GatewayState


@dataclass
class _Pending:
    record: InputRecord
    capture: FaceCaptured
    identify: Identify
    match: Match | None = None
    threshold: float = 1.0


def process_batch(
    records: Sequence[InputRecord],
    state: GatewayState,
    names: TopicNames,
    heads: dict[int, ChainHead],
    is_seen: Callable[[int, str], bool],
    now: datetime,
    audit_partitions: int,
    arrived: datetime | None = None,
) -> BatchResult:
    """Decide a batch. `heads` (chain head per audit partition) is advanced in place."""
    result = BatchResult()
    use = (arrived or now, now)
    decided: list[tuple[InputRecord, FaceCaptured | None, Outcome, str | None]] = []
    pending: list[_Pending] = []
    in_batch: set[str] = set()

    for record in records:
        payload = record.value or b""
        try:
            capture = state.codec.decode(payload, FaceCaptured)
        except DecodeError as exc:
            outcome = Outcome(Decision.REJECTED, ("R19",), (f"DECODE_{exc.code}",))
            decided.append((record, None, outcome, exc.detail))
            continue
        if capture.event_id in in_batch or is_seen(record.partition, capture.event_id):
            result.duplicates += 1
            continue
        in_batch.add(capture.event_id)
        camera = state.cameras.get(capture.camera_id)
        policy = state.policy(capture.tenant_id)
        calibration = state.calibrations.get(capture.template_model)
        screened = screen(capture, camera, policy, calibration)
        if isinstance(screened, Identify):
            pending.append(_Pending(record, capture, screened))
        else:
            decided.append((record, capture, screened, None))

    references = _identify(pending, state, now)
    for item in pending:
        policy = state.policy(item.capture.tenant_id)
        assert policy is not None and item.match is not None  # screening passed, so both exist
        consent = state.consent(item.capture.tenant_id, item.match.subject_id or "")
        outcome = conclude(item.capture, item.identify, item.match, item.threshold, consent, policy, now)
        decided.append((item.record, item.capture, outcome, None))
    decided = [(r, c, _with_alerts(o, c, state), d) for r, c, o, d in decided]

    decided.sort(key=lambda d: (d[0].partition, d[0].offset))  # the audit chain follows the input order
    for record, decided_capture, outcome, detail in decided:
        reference = references.get(decided_capture.event_id) if decided_capture else None
        _emit(
            result,
            record,
            decided_capture,
            outcome,
            detail,
            state,
            names,
            heads,
            now,
            audit_partitions,
            use,
            reference,
        )
    return result


def _with_alerts(outcome: Outcome, capture: FaceCaptured | None, state: GatewayState) -> Outcome:
    """R15: a tenant holding as many enrolled subjects as the filing threshold must file with the CAC."""
    if capture is None:
        return outcome
    policy = state.policy(capture.tenant_id)
    if policy is None or policy.pack.filing_threshold is None:
        return outcome
    if state.enrolled_count(capture.tenant_id) < policy.pack.filing_threshold:
        return outcome
    return replace(outcome, alerts=tuple(sorted({*outcome.alerts, "R15"})))


def _identify(pending: list[_Pending], state: GatewayState, now: datetime) -> dict[str, str]:
    """Protect and search, batched per (tenant, model); the best match across key versions wins.

    Returns, per event id, the reference database searched (EU AI Act art. 12(3)(b)).
    """
    references: dict[str, str] = {}
    groups: dict[tuple[str, str], list[_Pending]] = defaultdict(list)
    for item in pending:
        groups[(item.capture.tenant_id, item.capture.template_model)].append(item)
    for (tenant_id, model), items in groups.items():
        calibration = state.calibrations[model]
        policy = state.policy(tenant_id)
        assert policy is not None  # screening passed
        versions = state.enrolled_versions(tenant_id, model, now)  # revoked key versions are not searched
        enrolled = sum(len(state.indexes[(tenant_id, model, v)]) for v in versions)
        best = [Match(None, 0.0)] * len(items)
        vectors = np.stack([item.identify.vector for item in items])
        for version in versions:
            index = state.indexes[(tenant_id, model, version)]
            matches = index.search(state.protector(tenant_id, calibration, version).protect(vectors))
            best = [m if m.score > b.score else b for m, b in zip(matches, best, strict=True)]
        for item, match in zip(items, best, strict=True):
            item.match = match
            item.threshold = identification_threshold(calibration, policy, item.identify.masked, enrolled)
            references[item.capture.event_id] = (
                f"{tenant_id} enrolled {model}: {enrolled} subjects, key versions {versions or 'none'}"
            )
    return references


def _emit(
    result: BatchResult,
    record: InputRecord,
    capture: FaceCaptured | None,
    outcome: Outcome,
    detail: str | None,
    state: GatewayState,
    names: TopicNames,
    heads: dict[int, ChainHead],
    now: datetime,
    audit_partitions: int,
    use: tuple[datetime, datetime],
    reference: str | None,
) -> None:
    codec = state.codec
    tenant_id = capture.tenant_id if capture else UNKNOWN_TENANT
    event_id = capture.event_id if capture else undecodable_event_id(record.topic, record.partition, record.offset)
    policy = state.policy(tenant_id) if capture else None
    policy_version = policy.version if policy else NO_POLICY
    camera = state.cameras.get(capture.camera_id) if capture else None

    tenant_name = regulator_name = None
    if outcome.subject_id is not None and capture is not None:
        tenant_name = state.tenant_pseudonym(tenant_id, outcome.subject_id)
        regulator_name = state.regulator_pseudonym(tenant_id, outcome.subject_id)

    audit_partition = record.partition % audit_partitions
    fields = audit_fields(
        event_id=event_id, tenant_id=tenant_id, outcome=outcome, policy_version=policy_version,
        recorded_at=now, capture=capture, camera=camera, subject_pseudonym=regulator_name,
    )  # fmt: skip
    if reference is not None:  # an identification ran: the EU AI Act art. 12(3) log
        fields.update(reference_database=reference, use_started_at=use[0], use_ended_at=use[1], verified_by=None)
    result.outputs.append(audit_output(fields, heads, audit_partition, names.audit, codec))

    if outcome.decision in (Decision.FORWARDED, Decision.STRIPPED) and capture is not None and camera is not None:
        template = version_used = None
        if outcome.decision is Decision.FORWARDED and policy is not None and policy.forward_protected_template:
            calibration = state.calibrations[capture.template_model]
            protector = state.protector(tenant_id, calibration)
            vector = np.frombuffer(capture.template, dtype="<f4")
            template, version_used = protector.protect(vector)[0].tobytes(), protector.version
        governed = governed_face(capture, camera, outcome, policy_version, tenant_name, template, version_used)
        result.outputs.append(Output(names.governed(tenant_id), capture.event_id.encode(), codec.encode(governed)))
    elif outcome.decision is Decision.REJECTED:
        reason = detail or f"rejected: {', '.join(outcome.reason_codes)}"
        dead = rejected_event(
            topic=record.topic, partition=record.partition, offset=record.offset, payload=record.value or b"",
            reason_code=outcome.reason_codes[0], reason=reason, rejected_at=now, capture=capture,
        )  # fmt: skip
        result.outputs.append(Output(names.rejected, dead.rejected_id.encode(), codec.encode(dead)))

    if capture is not None:
        result.seen.append((record.partition, capture.event_id))
    result.decisions.append((tenant_id, outcome))
