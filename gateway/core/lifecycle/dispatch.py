"""Which lifecycle step decides a record, by the topic it came from, and when a refusal is
worth deciding again."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from gateway.contract.codec import DecodeError
from gateway.contract.models import CameraRegistration
from gateway.contract.topics import TENANT_INPUTS
from gateway.contract.vocabulary import Decision
from gateway.core.context import UNDECIDABLE, Context
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.erasure import on_consent
from gateway.core.lifecycle.sharing import share
from gateway.core.messages import InputRecord, record_key
from gateway.core.policy.outcome import Refusal
from gateway.core.policy.reasons import Reason
from gateway.core.state import camera_refusal, key_refusal

_REFUSALS = (Decision.BLOCKED, Decision.SHARE_BLOCKED)


def decide_lifecycle(record: InputRecord, ctx: Context) -> None:
    """A tenant's enrollment, consent record, share request or camera registration, decided into
    `ctx.result`. The tenant is the one whose topic the record came on (only its principal may
    write there): a key or body naming another tenant is rejected and changes nothing."""
    owner = ctx.names.owner(record.topic)
    if owner is None or owner[0] not in TENANT_INPUTS:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.UNKNOWN_TOPIC), f"no lifecycle step reads {record.topic}")
        return
    kind, tenant = owner
    key = record_key(record.key)
    if kind == "cameras":
        register_camera(record, tenant, key, ctx)
        return
    if (refused := key_refusal(tenant, key)) is not None:
        detail = {
            Reason.BAD_KEY: f"{kind} records are keyed tenant_id/subject_id",
            Reason.TENANT_MISMATCH: f"the key names another tenant than the topic's ({tenant})",
        }[refused]
        ctx.reject(record, Refusal(UNDECIDABLE, refused), detail, tenant_id=tenant)
    elif kind == "enroll":
        enroll(record, ctx)
    elif kind == "share.requests":
        share(record, ctx)
    else:
        # Bind a withdrawal before its ERASED record exists: no capture decided after that
        # record can be forwarded, even while the consent feed is behind.
        ctx.state.apply_consent(tenant, key, record.value, record.partition, record.offset, record.timestamp_ms)
        on_consent(record, key, ctx)


def register_camera(record: InputRecord, tenant: str, key: str, ctx: Context) -> None:
    """A camera registration is applied by the feeds; here, one that cannot be is rejected and
    audited: undecodable, or naming another tenant than its topic's or another camera than its key."""
    if record.value is None:
        return  # a deregistration: the feeds apply it
    try:
        camera = ctx.state.codec.decode(record.value, CameraRegistration)
    except DecodeError as exc:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.undecodable(exc.code)), exc.detail, tenant_id=tenant)
        return
    if (refused := camera_refusal(camera, tenant, key)) is not None:
        detail = {
            Reason.TENANT_MISMATCH: f"the registration names another tenant than the topic's ({tenant})",
            Reason.KEY_MISMATCH: "the registration's camera_id differs from its key",
        }[refused]
        ctx.reject(record, Refusal(UNDECIDABLE, refused), detail, tenant_id=tenant)


def decide_in_order(records: Sequence[InputRecord], ctx: Context, *, retried: bool = False) -> int:
    """Decide lifecycle records in order into `ctx`, each apart from the others' errors, as if one
    at a time: a record decided earlier in the run counts as seen. Stops before the first refusal
    worth deciding again once the feeds have caught up (the records before it must be committed
    first: it may need one of them, an enrollment before a share request), except the first
    record when it is that retry. Returns how many records were decided."""
    for n, record in enumerate(records):
        tried = ctx.fork()  # what it adopts counts as seen from then on (Context.earlier)
        tried.decide_each([record], decide_records)
        if not (retried and n == 0) and worth_redoing(record, tried, ctx):
            return n
        ctx.adopt(tried)
    return len(records)


def in_slices(ctx: Context, *, retried: bool = False) -> Callable[[Sequence[InputRecord]], int]:
    """`decide_in_order` for a run given in consecutive slices (the worker gives its event loop a
    turn between two): only the run's first record may be the one decided again."""
    retry = itertools.chain([retried], itertools.repeat(False))
    return lambda some: decide_in_order(some, ctx, retried=next(retry))


def decide_records(records: Sequence[InputRecord], ctx: Context) -> None:
    """Lifecycle records one after another (the shape Context.decide_each takes)."""
    for record in records:
        decide_lifecycle(record, ctx)


def worth_redoing(record: InputRecord, ctx: Context, run: Context | None = None) -> bool:
    """A refused enrollment or share request may have been written just after the consent or
    enrollment it needs, which the feeds have not read yet: decide it again once they have (the
    core is pure, so a redo is free). A consent record is never redone: it needs nothing else.
    A share is never allowed before the feeds have read what was written before it either: a
    withdrawal, on another topic, may come to the agent after the request the tenant wrote later.
    The worker syncs the feeds once a batch (`ctx.synced` from then on), which covers every record
    it fetched: after that only a share refused for want of an enrollment this run (`run`, the
    context its decisions are adopted into) wrote since is decided again, once the feeds have read
    it. A flood of refused enrollments or of share requests costs a sync, not one each."""
    refused = any(
        outcome.decision in _REFUSALS and Reason.FEEDS_BEHIND not in outcome.reason_codes
        for _, outcome in ctx.result.decisions
    )  # refused for feeds that lag: a sync would wait for them in vain, holding every batch back
    kind = ctx.names.kind_of(record.topic)
    if ctx.synced:
        return refused and kind == "share.requests" and run is not None and record.key in _enrolled(run)
    shared = any(outcome.decision is Decision.SHARED for _, outcome in ctx.result.decisions)
    return (refused and kind != "consent") or shared


def _enrolled(run: Context) -> set[bytes | None]:
    """The keys (tenant/subject) of the enrollments a run has written."""
    return {o.key for o in run.result.outputs if o.topic == run.names.enrolled and o.value is not None}
