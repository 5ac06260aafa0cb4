"""Which lifecycle step decides a record, by the topic it came from, and when a refusal is
worth deciding again."""

from __future__ import annotations

from gateway.contract.vocabulary import Decision
from gateway.core.context import UNDECIDABLE, Context
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.erasure import on_consent
from gateway.core.lifecycle.sharing import share
from gateway.core.messages import InputRecord
from gateway.core.policy.outcome import Refusal
from gateway.core.policy.reasons import Reason

_REFUSALS = (Decision.BLOCKED, Decision.SHARE_BLOCKED)


def decide_lifecycle(record: InputRecord, ctx: Context) -> None:
    """An enrollment, a consent record or a share request, decided into `ctx.result`."""
    names = ctx.names
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    if record.topic == names.enroll:
        enroll(record, ctx)
    elif record.topic == names.share_requests:
        share(record, ctx)
    elif record.topic == names.consent:
        if key is not None:
            # Bind a withdrawal before its ERASED record exists: no capture decided after that
            # record can be forwarded, even while the consent feed is behind.
            ctx.state.apply_consent(key, record.value, record.partition, record.offset)
        on_consent(record, key, ctx)
    else:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.UNKNOWN_TOPIC), f"no lifecycle step reads {record.topic}")


def worth_redoing(record: InputRecord, ctx: Context) -> bool:
    """A refused enrollment or share request may have been written just after the consent or
    enrollment it needs, which the feeds have not read yet: decide it again once they have (the
    core is pure, so a redo is free). A consent record is never redone: it needs nothing else."""
    refused = any(outcome.decision in _REFUSALS for _, outcome in ctx.result.decisions)
    return refused and record.topic != ctx.names.consent
