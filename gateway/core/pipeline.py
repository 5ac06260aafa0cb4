"""One batch of raw captures in, everything that must be produced out. Pure: no Kafka here.

Per record: decode (bad bytes become a dead letter), drop repeated event ids, screen; then the
captures that need identification are protected and searched together, per tenant and model,
which is what makes 1:N search affordable; then conclude, and decide through the context: the
audit record (chained per audit partition), the tenant's governed event and any dead letter.
Every input yields one audit record, except a repeated event id, which yields nothing and is counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import numpy as np

from gateway.contract.codec import DecodeError
from gateway.contract.models import FaceCaptured, GovernedFace
from gateway.contract.vocabulary import Decision
from gateway.core.biometrics.matching import Match
from gateway.core.context import UNDECIDABLE, Context, Decided, Identification
from gateway.core.messages import BatchResult, InputRecord, Output, broker_time
from gateway.core.policy.decision import Identify, conclude, from_its_vendor, identification_threshold, screen
from gateway.core.policy.outcome import Outcome, Refusal
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from gateway.core.records import capture_key, governed_face, tenant_view
from gateway.core.state import GatewayState, consent_key


@dataclass
class _Pending:
    record: InputRecord
    capture: FaceCaptured
    identify: Identify
    known_as: str  # records.capture_key
    match: Match | None = None
    threshold: float = 1.0
    reference: str | None = None  # the reference database searched


def process_batch(records: Sequence[InputRecord], ctx: Context, arrived: datetime | None = None) -> BatchResult:
    """Decide a batch of captures that arrived at `arrived` (default: now) into `ctx.result`."""
    decisions: list[tuple[InputRecord, Callable[[], None]]] = []  # applied in input order: the audit chain's
    pending: list[_Pending] = []
    in_batch: set[tuple[str, str]] = set()  # (tenant, what the capture is known by)
    state = ctx.state
    for record in records:
        try:
            capture = state.codec.decode(record.value or b"", FaceCaptured)
        except DecodeError as exc:
            refusal = Refusal(UNDECIDABLE, Reason.undecodable(exc.code))
            decisions.append((record, partial(ctx.reject, record, refusal, exc.detail)))
            continue
        known_as = capture_key(capture, record.topic)
        if (capture.tenant_id, known_as) in in_batch or ctx.seen(record.partition, capture.tenant_id, known_as):
            ctx.result.duplicates += 1
            continue
        in_batch.add((capture.tenant_id, known_as))
        if ctx.from_the_future(record, capture.captured_at):
            future = Refusal(UNDECIDABLE, Reason.TIME_IN_FUTURE)
            ahead = "captured_at is ahead of the broker"
            decisions.append((record, partial(ctx.reject, record, future, ahead, capture=capture, known_as=known_as)))
            continue
        camera = state.camera(capture.tenant_id, capture.camera_id)
        screened = from_its_vendor(capture, camera, ctx.names.vendor_of(record.topic)) or screen(
            capture, camera, state.policy(capture.tenant_id), state.calibrations.get(capture.template_model)
        )
        if isinstance(screened, Identify):
            pending.append(_Pending(record, capture, screened, known_as))
        else:
            outcome = _with_alerts(screened, record, capture, state, ctx.now)
            decisions.append((record, partial(_decide, ctx, record, capture, known_as, outcome)))

    _identify(pending, state, ctx.now)
    for item in pending:
        outcome = _with_alerts(_conclude(item, ctx), item.record, item.capture, state, ctx.now)
        assert item.reference is not None  # identified
        used = Identification(item.reference, arrived or ctx.now, ctx.now)
        decisions.append((item.record, partial(_decide, ctx, item.record, item.capture, item.known_as, outcome, used)))
    for _, decide in sorted(decisions, key=lambda d: (d[0].partition, d[0].offset)):
        decide()
    return ctx.result


def _conclude(item: _Pending, ctx: Context) -> Outcome:
    state = ctx.state
    policy = state.policy(item.capture.tenant_id)
    assert policy is not None and item.match is not None  # screening passed, so both exist
    tenant_id, subject_id = item.capture.tenant_id, item.match.subject_id or ""
    consent, entry = state.consent(tenant_id, subject_id), state.enrollments.get(consent_key(tenant_id, subject_id))
    enrolled_at = entry.enrolled_at if entry is not None else None
    outcome = conclude(item.capture, item.identify, item.match, item.threshold, consent, policy, ctx.now, enrolled_at)
    if ctx.feeds_behind and outcome.decision is Decision.FORWARDED:  # fail closed
        behind = Refusal((Rule.SEPARATE_CONSENT, Rule.TEMPLATE_PROTECTION), Reason.FEEDS_BEHIND)
        return behind.outcome(Decision.STRIPPED, consent_ref=outcome.consent_ref, score=outcome.score).with_rules(
            outcome.rule_ids, outcome.reason_codes, outcome.alerts
        )
    return outcome


def _with_alerts(
    outcome: Outcome, record: InputRecord, capture: FaceCaptured, state: GatewayState, now: datetime
) -> Outcome:
    """R18: an identification beyond the tenant's own baseline is an anomaly for the audit. (R15,
    the filing threshold, is raised on the enrollment that reaches it: lifecycle/enrollment.py.)
    Counted when the broker took the capture, not when it is decided (`now`, without a broker's
    time): a backlog decided at once after an outage is no burst."""
    if outcome.decision is not Decision.FORWARDED:
        return outcome
    if state.identifications.observe(capture.tenant_id, broker_time(record.timestamp_ms) or now):
        return outcome.with_rules(alerts=(Rule.ANOMALY,))
    return outcome


def _identify(pending: list[_Pending], state: GatewayState, now: datetime) -> None:
    """Protect and search, batched per (tenant, model); the best match across key versions wins.
    Each item learns its match, its threshold and the reference database searched (EU AI Act
    art. 12(3)(b))."""
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
        reference = f"{tenant_id} enrolled {model}: {enrolled} subjects, key versions {versions or 'none'}"
        for item, match in zip(items, best, strict=True):
            item.match, item.reference = match, reference
            item.threshold = identification_threshold(calibration, policy, item.identify.masked, enrolled)


def _decide(
    ctx: Context,
    record: InputRecord,
    capture: FaceCaptured,
    known_as: str,
    outcome: Outcome,
    used: Identification | None = None,
) -> None:
    """A decoded capture's decision: the governed event or dead letter, and the audit record."""
    state = ctx.state
    camera = state.camera(capture.tenant_id, capture.camera_id)
    decided = Decided(
        capture.event_id, capture.tenant_id, outcome, subject_id=outcome.subject_id, capture=capture, camera=camera,
        identification=used, known_as=known_as,
    )  # fmt: skip
    if outcome.decision in (Decision.FORWARDED, Decision.STRIPPED) and camera is not None:
        governed = governed_face(
            capture, camera, tenant_view(outcome, identified=used is not None), ctx.policy_version(capture.tenant_id),
            _tenant_pseudonym(state, capture, outcome), _protected_template(state, capture, outcome), decided.audit_id,
        )  # fmt: skip
        encoded = state.codec.encode_datum(GovernedFace.avro_name, governed)
        ctx.emit(Output(ctx.names.governed(capture.tenant_id), capture.event_id.encode(), encoded))
    elif outcome.decision is Decision.REJECTED:
        ctx.dead_letter(record, outcome, None, capture)
    ctx.decide(decided, record.partition)


def _tenant_pseudonym(state: GatewayState, capture: FaceCaptured, outcome: Outcome) -> str | None:
    return state.tenant_pseudonym(capture.tenant_id, outcome.subject_id) if outcome.subject_id else None


def _protected_template(
    state: GatewayState, capture: FaceCaptured, outcome: Outcome
) -> tuple[bytes | None, int | None]:
    """A forwarded capture's template protected with the tenant's current key, where its policy asks for one."""
    policy = state.policy(capture.tenant_id)
    if outcome.decision is not Decision.FORWARDED or policy is None or not policy.forward_protected_template:
        return None, None
    protector = state.protector(capture.tenant_id, state.calibrations[capture.template_model])
    vector = np.frombuffer(capture.template, dtype="<f4")
    return protector.protect(vector)[0].tobytes(), protector.version
