"""Erasure (R10, R11): on withdrawal, on expiry after the pack's grace, or past retention.

An erasure tombstones the protected enrollment on its compacted topic (so the cleaner removes
the template), tells the tenant to erase what it holds under its pseudonym, and is audited as
ERASED. Ids are derived from the cause, so a redo or a second sweep repeats, not adds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from gateway.contract.codec import DecodeError, DecodeErrorCode
from gateway.contract.models import ConsentRecord, ErasureNotice, Withdrawal
from gateway.contract.vocabulary import ConsentStatus, Decision
from gateway.core.consent import MAX_VERSION_BYTES, ConsentHistory, consent_ref, effective_at, too_large
from gateway.core.context import UNDECIDABLE, Context, Decided
from gateway.core.messages import InputRecord, Output, broker_time
from gateway.core.policy.outcome import Outcome, Refusal
from gateway.core.policy.pack import days_before
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from gateway.core.records import codes, consent_event_id, erasure_event_id
from gateway.core.state import GatewayState, consent_key

RULES: dict[Reason, tuple[Rule, ...]] = {  # why a template is erased, and the rules that demand it
    Reason.WITHDRAWN: (Rule.WITHDRAWAL,),
    Reason.EXPIRED: (Rule.WITHDRAWAL, Rule.RETENTION),
    Reason.RETENTION: (Rule.RETENTION,),
    Reason.KEY_REVOKED: (Rule.TEMPLATE_PROTECTION,),
}


@dataclass(frozen=True)
class DueErasure:
    tenant_id: str
    subject_id: str
    reason: Reason  # one of RULES
    effective: datetime
    partition: int
    consent_ref: str | None = None
    consent: ConsentRecord | None = None  # the withdrawal that caused it, if one did: its method and evidence
    latest_grant: datetime | None = None  # a withdrawal's: the latest granted_at of the versions it withdraws


def erase(ctx: Context, due: DueErasure) -> None:
    """Tombstone, notices to the tenant and to every company its template was protected for
    (each under its own pseudonym: PIPL art. 47, GDPR art. 17(2) and 19), and the audit."""
    state, tenant_id, subject_id = ctx.state, due.tenant_id, due.subject_id
    key = consent_key(tenant_id, subject_id)
    entry = state.enrollments.get(key)
    ctx.emit(Output(ctx.names.enrolled, key.encode(), None))
    if due.reason is Reason.WITHDRAWN:  # the gateway's own record: no replayed grant undoes it
        # Not before the grants it withdraws (a withdrawal dated back before them would leave them,
        # replayed, newer than this record: CONSENT_REPLAYED compares with it), nor before the
        # record it replaces (a compacted topic keeps the last alone).
        binds_from = max(filter(None, (due.effective, due.latest_grant, state.withdrawals.get(key))))
        withdrawal = Withdrawal(
            tenant_id=tenant_id, subject_id=subject_id, withdrawn_at=binds_from, consent_ref=due.consent_ref
        )
        encoded = state.codec.encode(withdrawal)
        ctx.emit(Output(ctx.names.withdrawals, key.encode(), encoded))
        state.apply_withdrawal(key, encoded)
    rules = RULES[due.reason]
    event_id = erasure_event_id(tenant_id, subject_id, due.reason, int(due.effective.timestamp() * 1000))
    held = set(entry.recipients) if entry is not None else set()
    for company in [tenant_id, *sorted(held - {tenant_id})]:
        notify(ctx, event_id, company, due, rules)
    outcome = Outcome(Decision.ERASED, rules, (due.reason,), consent_ref=due.consent_ref)
    ctx.decide(Decided(event_id, tenant_id, outcome, subject_id=subject_id, consent=due.consent), due.partition)


def notify(ctx: Context, event_id: str, company: str, due: DueErasure, rules: tuple[Rule, ...]) -> None:
    """Erasure notices to `company`, one per name it may hold the subject under (every pseudonym
    key version the keyring still holds: what it received before a rotation is named too). A
    company without keys (offboarded) is told nothing: the erasure never waits on it."""
    for version, name in ctx.state.pseudonyms_held(company, due.tenant_id, due.subject_id):
        # Known by the key version, not by which is current: a redo after a rotation repeats its ids.
        notice = ErasureNotice(
            notice_id="n-" + _digest_of(event_id, company if version == 1 else f"{company}\x1f{version}"),
            tenant_id=company,
            pseudonym=name,
            reason_code=due.reason,
            rule_ids=codes(rules),
            consent_ref=due.consent_ref if company == due.tenant_id else None,
            erased_at=ctx.now,
        )
        ctx.emit(Output(ctx.names.erasure(company), notice.notice_id.encode(), ctx.state.codec.encode(notice)))


def _digest_of(event_id: str, company: str) -> str:
    return hashlib.sha256(f"{event_id}\x1f{company}".encode()).hexdigest()[:32]


def on_consent(record: InputRecord, key: str | None, ctx: Context) -> None:
    """A record on the consent topic: a withdrawal, or a deletion (tombstone), erases at once."""
    tenant_id, _, subject_id = (key or "").partition("/")
    if not tenant_id or not subject_id:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.BAD_KEY), "consent records are keyed tenant_id/subject_id")
        return
    # When the deletion was made binds every grant given before it (a replay grants nothing): without
    # a time the broker stamped, the moment it is decided, never an epoch or a producer's claim.
    appended = broker_time(record.timestamp_ms) or ctx.now
    deleted = DueErasure(tenant_id, subject_id, Reason.WITHDRAWN, appended, record.partition)
    if record.value is None:
        erase(ctx, deleted)
        return
    try:
        consent = ctx.state.codec.decode(record.value, ConsentRecord)
    except DecodeError as exc:
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.undecodable(exc.code)), exc.detail, tenant_id=tenant_id)
        # It may have been a withdrawal (written with a schema this gateway does not know, say):
        # erased as a deletion is. Kept, the template would outlive the withdrawal for good once
        # compaction removed the grant before it, and no one could withdraw it again. A valid
        # record of another kind (an enrollment sent to the consent topic) is no withdrawal.
        if exc.code is not DecodeErrorCode.WRONG_RECORD_TYPE:
            erase(ctx, deleted)
        return
    if not ctx.keyed_by(record, consent.tenant_id, consent.subject_id):
        return
    # Refused either way, and void in the ledger (GatewayState.apply_consent): more than every
    # worker keeps of a version, or times nothing may rely on.
    large = too_large(record.value)
    ahead = ctx.from_the_future(record, consent.granted_at, consent.withdrawn_at)
    if large:
        detail = f"{len(record.value):,} bytes; a consent version may have at most {MAX_VERSION_BYTES:,}"
        ctx.reject(record, Refusal(UNDECIDABLE, Reason.CONSENT_TOO_LARGE), detail, tenant_id=tenant_id)
    elif ahead:
        future = Refusal(UNDECIDABLE, Reason.TIME_IN_FUTURE)
        ctx.reject(record, future, "granted_at or withdrawn_at is ahead of the broker", tenant_id=tenant_id)
    if consent.status is ConsentStatus.WITHDRAWN:  # refused, a withdrawal all the same (dated ahead: as of the broker)
        effective = appended if ahead else effective_at(consent)
        history = ctx.state.consent(tenant_id, subject_id)
        withdrawn = _up_to(history, consent) if history is not None and consent in history.versions else (consent,)
        granted = max(v.granted_at for v in withdrawn)  # never a grant the feeds applied after it
        due = DueErasure(
            tenant_id, subject_id, Reason.WITHDRAWN, effective, record.partition, consent_ref(consent), consent,
            granted,
        )  # fmt: skip
        erase(ctx, due)
        return
    if large or ahead:
        return
    history = ctx.state.consent(tenant_id, subject_id)
    event_id = consent_event_id(record.topic, record.partition, record.offset)
    if history is not None and history.withdrawn_at is not None and consent.granted_at <= history.withdrawn_at:
        replayed = Refusal((Rule.SEPARATE_CONSENT, Rule.WITHDRAWAL), Reason.CONSENT_REPLAYED)
        outcome = replayed.outcome(Decision.BLOCKED, consent_ref=consent_ref(consent))
    else:
        before = _before(history, consent)
        rules: tuple[Rule, ...] = (Rule.SEPARATE_CONSENT,)
        if _dropped(ctx, before, consent, event_id, record.partition):
            rules = (Rule.SEPARATE_CONSENT, Rule.WITHDRAWAL)
        change = _change(before, consent)
        outcome = Outcome(Decision.CONSENT_RECORDED, rules, (change,), consent_ref=consent_ref(consent))
    ctx.decide(Decided(event_id, tenant_id, outcome, subject_id=subject_id, consent=consent), record.partition)


def _before(history: ConsentHistory | None, consent: ConsentRecord) -> ConsentRecord | None:
    """The version before `consent` (the ledger holds `consent` already when the agent decides it)."""
    earlier = _up_to(history, consent)[:-1]
    return earlier[-1] if earlier else None


def _up_to(history: ConsentHistory | None, consent: ConsentRecord) -> tuple[ConsentRecord, ...]:
    """The versions up to `consent`'s latest (a tenant may send one again byte for byte), itself
    last: the feeds may have applied later ones already. Not in the ledger: the versions held, then it."""
    versions = history.versions if history is not None else ()
    if consent in versions:
        return versions[: len(versions) - versions[::-1].index(consent)]
    return (*versions, consent)


def _dropped(ctx: Context, before: ConsentRecord | None, consent: ConsentRecord, event_id: str, partition: int) -> bool:
    """A version that no longer names a company the subject's template was protected for withdraws
    the consent to share with it: that company is told to erase what it received (GDPR art. 17(2)
    and 19, PIPL art. 47), as on a withdrawal. Whether any was told."""
    if before is None or before.status is ConsentStatus.WITHDRAWN:
        return False
    entry = ctx.state.enrollments.get(consent_key(consent.tenant_id, consent.subject_id))
    held = set(entry.recipients) if entry is not None else set()
    dropped = sorted((set(before.recipients) - set(consent.recipients)) & held)
    if not dropped:
        return False
    due = DueErasure(
        consent.tenant_id, consent.subject_id, Reason.WITHDRAWN, effective_at(consent), partition,
        consent_ref(consent), consent,
    )  # fmt: skip
    for company in dropped:
        notify(ctx, event_id, company, due, RULES[Reason.WITHDRAWN])
    return True


def _change(before: ConsentRecord | None, consent: ConsentRecord) -> Reason:
    """What a granted version does to the one before it: grants anew, narrows (binding at once:
    fewer purposes or recipients, or an earlier end) or otherwise updates the consent."""
    if before is None or before.status is ConsentStatus.WITHDRAWN:
        return Reason.CONSENT_GRANTED
    ends_earlier = consent.expires_at is not None and (
        before.expires_at is None or consent.expires_at < before.expires_at
    )
    fewer = set(consent.purposes) < set(before.purposes) or set(consent.recipients) < set(before.recipients)
    kept = set(consent.purposes) <= set(before.purposes) and set(consent.recipients) <= set(before.recipients)
    return Reason.CONSENT_NARROWED if kept and (fewer or ends_earlier) else Reason.CONSENT_UPDATED


def erase_each(ctx: Context, dues: Iterable[DueErasure]) -> None:
    """Erase each of `dues` into `ctx`, each apart from the others: a bug erasing one subject is
    counted in `errors` (naming its kind only) and the others go on; the next sweep retries it."""
    for due in dues:
        tried = ctx.fork()
        try:
            erase(tried, due)
        except Exception as exc:  # confined to this subject: nothing of it is kept
            ctx.result.errors.append(f"erasing ({type(exc).__name__})")
            continue
        ctx.adopt(tried)


def still_due(
    state: GatewayState, now: datetime, owned: Callable[[int], bool], found: Iterable[DueErasure]
) -> list[DueErasure]:
    """Of what a sweep's walk `found` due, what is due now. A sweep erases in batches with other
    work between them, and a subject may have been re-enrolled (its retention starts again), had
    its consent renewed, or been erased on withdrawal meanwhile: erasing it from the walk's list
    would tombstone a valid template, or erase and notify twice."""
    return list(due_erasures(state, now, owned, [consent_key(d.tenant_id, d.subject_id) for d in found]))


def sweep_slices(state: GatewayState, now: datetime, size: int) -> Iterator[list[str]]:
    """The enrollments (tenant/subject) a sweep must look at, for `due_erasures`, in slices of what
    was examined (the caller lets other work run between them): every one of a tenant whose pack
    limits the time since enrollment or with a key version revoked by `now`; of any other tenant
    only those whose consent expired past the pack's grace or that are held though withdrawn, the
    ways they can be due. Looking at every enrollment took 5 s of CPU each sweep (a minute by
    default) at 1M subjects per tenant."""
    whole: set[str] = set()
    grace: dict[str, int] = {}  # days
    for tenant_id, count in state.per_tenant.items():
        policy = state.policy(tenant_id) if count else None
        if policy is None:  # due_erasures passes over a tenant without a policy too
            continue
        versions = state.keyring.protection_versions(tenant_id)
        if policy.retention.max_days_since_enrollment is not None or any(
            state.keyring.protection_revoked(tenant_id, v, now) for v in versions
        ):
            whole.add(tenant_id)
        else:
            grace[tenant_id] = policy.retention.purpose_end_grace_days
    if whole:
        walked = list(state.enrollments)
        for start in range(0, len(walked), size):
            yield [key for key in walked[start : start + size] if key.split("/", 1)[0] in whole]
    expiring = list(state.consents.expiries())
    looked: set[str] = set()
    for start in range(0, len(expiring), size):
        keys = []
        for key, expires in expiring[start : start + size]:
            wait = grace.get(key.split("/", 1)[0])  # None: a tenant walked whole, or without a policy
            if wait is not None and days_before(now, expires, wait) and key in state.enrollments:
                keys.append(key)
        looked.update(keys)
        yield keys
    # And those held though withdrawn (an `enrolled` topic restored from an older backup): few.
    withdrawn = sorted(k for k in state.withdrawn_enrolled if k.split("/", 1)[0] in grace and k not in looked)
    for start in range(0, len(withdrawn), size):
        yield withdrawn[start : start + size]


def due_erasures(
    state: GatewayState, now: datetime, owned: Callable[[int], bool], keys: Iterable[str] | None = None
) -> Iterator[DueErasure]:
    """Enrollments on partitions this worker owns whose consent expired past the grace, that are
    older than the pack's retention (R11), or whose key version is revoked (R08: cancelable
    templates). Withdrawals are erased as they arrive; an enrollment the gateway recorded a
    withdrawal at or after (an `enrolled` topic restored from an older backup) is due again.
    `keys` (tenant/subject) limits the walk to those enrollments, so a caller can take a large
    gallery a slice at a time."""
    for key in list(state.enrollments) if keys is None else keys:
        entry = state.enrollments.get(key)
        if entry is None or not owned(entry.partition):
            continue
        tenant_id, subject_id = key.split("/", 1)
        policy = state.policy(tenant_id)
        if policy is None:
            continue
        retention = policy.retention
        # Every enrolled subject is looked at: the expiry is kept beside the ledger's encoded
        # versions, which are decoded only for a subject that is due.
        expires = state.consents.expires_at(key)
        if key in state.withdrawn_enrolled:
            reason, effective = Reason.WITHDRAWN, state.withdrawals[key]
        elif expires is not None and days_before(now, expires, retention.purpose_end_grace_days):
            reason, effective = Reason.EXPIRED, expires
        elif retention.outlived(entry.enrolled_at, now):
            reason, effective = Reason.RETENTION, entry.enrolled_at
        elif state.keyring.protection_revoked(tenant_id, entry.key_version, now):
            versions = state.keyring.tenants[tenant_id].protection
            reason, effective = Reason.KEY_REVOKED, versions.revoke_after[entry.key_version]
        else:
            continue
        history = state.consents.get(key)
        reference = consent_ref(history.current) if history is not None else None
        yield DueErasure(tenant_id, subject_id, reason, effective, entry.partition, reference)
