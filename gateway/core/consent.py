"""The consent ledger: every version of a subject's consent, and whether it allows a use.

Consent is judged at the capture's time: the version in force then must allow the use (a
consent given after a capture never legitimises it). A withdrawal, or an update that narrows
the consent, takes effect at once: the current version must allow the use too, so nothing is
forwarded after a withdrawal, even for captures taken before. An expiry voids processing from
that moment, whenever the capture was. Each failure names the rule it breaks and a reason code.

The ledger keeps the versions it has read, in the order the tenant's consent system wrote them
(one key, one partition). The consent topic is compacted, so after compaction only the latest
version survives; judged alone it can only refuse more, never allow more, unless it was dated
back before a version in force (docs/threat-model.md, "A consent version dated back").
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import ItemsView, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import chain

from gateway.contract.codec import Codec, default_codec
from gateway.contract.models import ConsentRecord
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.policy.outcome import Refusal
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule

MAX_VERSIONS = 32  # per subject: enough to judge captures within any dedupe or retry window
NO_END = 2**63 - 1  # ConsentLedger's times: a version that does not end (or is no grant)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Per version, as written: every worker keeps MAX_VERSIONS of them per subject. The contract's
# bounds allow ~19.5 KB (256 characters of 4-byte UTF-8 in 16 recipients and 3 ids); a consent a
# tenant's system writes is ~60-240 bytes, ~2 KB with 256-character ids and 16 recipients of 64.
MAX_VERSION_BYTES = 4096


def too_large(value: bytes) -> bool:
    """Whether a consent version, as written, is more than every worker keeps of one: refused by
    the agent (CONSENT_TOO_LARGE) and void in the ledger (state.judge_consent)."""
    return len(value) > MAX_VERSION_BYTES


@dataclass(frozen=True)
class Consented:
    """A consent that allows the use, and the rules it was found to meet."""

    rules: tuple[Rule, ...]


VALID = Consented((Rule.SEPARATE_CONSENT, Rule.NOTICE))
WITHDRAWN = Refusal((Rule.SEPARATE_CONSENT, Rule.WITHDRAWAL), Reason.CONSENT_WITHDRAWN)


@dataclass(frozen=True)
class ConsentTerms:
    """What a tenant's policy demands of a consent (R01-R03)."""

    notice_versions: frozenset[str]
    require_separate: bool
    require_written: bool


def consent_ref(consent: ConsentRecord) -> str:
    """A reference to the exact consent record relied on, for the audit (a hash, not the record)."""
    return "c-" + hashlib.sha256(consent.model_dump_json().encode()).hexdigest()[:24]


def effective_at(consent: ConsentRecord) -> datetime:
    """When a version took effect: a withdrawal when it was withdrawn, a grant when it was given."""
    if consent.status is ConsentStatus.WITHDRAWN and consent.withdrawn_at is not None:
        return consent.withdrawn_at
    return consent.granted_at


def withdrawal(granted: ConsentRecord, at: datetime) -> ConsentRecord:
    """The record a consent system writes when the subject withdraws the consent `granted`."""
    return granted.model_copy(update={"status": ConsentStatus.WITHDRAWN, "withdrawn_at": at})


@dataclass(frozen=True)
class ConsentHistory:
    """The versions of one subject's consent with one tenant, oldest first."""

    versions: tuple[ConsentRecord, ...]
    # The latest withdrawal the gateway itself recorded (facegate.withdrawals): a grant given at or
    # before it is a replay and grants nothing, whatever the tenant's topic holds now.
    withdrawn_at: datetime | None = None

    @property
    def current(self) -> ConsentRecord:
        return self.versions[-1]

    def in_force(self, at: datetime) -> ConsentRecord | None:
        """The version that governed a use at `at`: the latest to take effect by then."""
        found: ConsentRecord | None = None
        for version in self.versions:
            if effective_at(version) <= at and (found is None or effective_at(version) >= effective_at(found)):
                found = version
        return found

    def ref(self, version: ConsentRecord) -> str:
        """`consent_ref` of one of these versions, worked out once per version of this history
        (histories asked for again stay decoded in the ledger, with what they worked out)."""
        index = next(i for i, v in enumerate(self.versions) if v is version)
        if index not in self._refs:
            self._refs[index] = consent_ref(version)
        return self._refs[index]

    @cached_property
    def _refs(self) -> dict[int, str]:
        return {}

    def with_version(self, consent: ConsentRecord) -> ConsentHistory:
        return ConsentHistory((*self.versions, consent)[-MAX_VERSIONS:])


class ConsentLedger:
    """Consent histories by tenant/subject key, fed from the compacted consent topic.

    Every subject of a tenant has a consent held in every worker, so each version is kept as its
    encoded record (~60-240 bytes; a decoded ConsentRecord holds ~1.9 KB: at a million subjects the
    difference is ~1.7 GB per worker) and decoded when a decision asks for it. The histories asked
    for most recently stay decoded, up to `decoded` versions in all (counted in histories instead,
    4,096 of 32 versions of 4 KiB could hold 1.4 GB). Each grant's expiry is kept beside it for the retention
    sweep, which looks at every enrolled subject.
    """

    def __init__(self, codec: Codec | None = None, decoded: int = 8192) -> None:
        self.codec = codec or default_codec()
        self.capacity = decoded
        self._held = 0  # versions in `_decoded`
        self._versions: dict[str, tuple[bytes, ...]] = {}
        self._decoded: OrderedDict[str, ConsentHistory] = OrderedDict()
        self._expires: dict[str, datetime] = {}  # the version in force's, when it is a grant that expires
        # Per held version of a key with more than one, in milliseconds: when it took effect and, a
        # grant, when it ends (NO_END: never, or no grant), flattened (16 bytes a version). A new
        # version finds the one in force from these, decoding none of the others: one subject's
        # versions written one after another cost what distinct subjects' do.
        self._times: dict[str, array[int]] = {}
        # The topic offset last applied per key: the lifecycle agent applies a withdrawal before it
        # is audited, and the feed reads the same record again later; a record is applied once.
        self.offsets: dict[str, int] = {}

    def record(self, key: str, consent: ConsentRecord | None, offset: int | None = None) -> None:
        """A new version; None (a tombstone) means the tenant deleted the consent: no consent at all."""
        held = self._decoded.get(key)
        if not self._new(key, offset):
            return
        if consent is None:
            self._drop(key)
            return
        # Encoded here (~10 us) so every version is held in one form, under whichever schema it was written.
        value = self.codec.encode(consent)
        earlier = self._versions.get(key, ())
        self._versions[key] = (*earlier, value)[-MAX_VERSIONS:]
        written = _times(consent)
        if earlier:
            times = self._times.get(key)
            if times is None:  # the key's first version, decoded once when a second comes
                times = array("q", chain.from_iterable(_times(self.codec.decode(v, ConsentRecord)) for v in earlier))
            self._times[key] = times = (times + array("q", written))[-2 * MAX_VERSIONS :]
            # Decisions judge both the version that took effect last (a version dated back is not
            # it) and the one written last (check_consent): the sweep finds the earlier end.
            latest = max(range(len(times) - 2, -1, -2), key=times.__getitem__)  # ties: the last written
            ends = [times[latest + 1], written[1]]
        else:
            ends = [written[1]]
        if held is not None:  # the agent asks for the history it applies a version to: kept decoded
            self._keep(key, held.with_version(consent))
        if (end := min(ends)) != NO_END:
            self._expires[key] = _EPOCH + timedelta(milliseconds=end)
        else:
            self._expires.pop(key, None)

    def void(self, key: str, offset: int | None = None) -> None:
        """A version nothing may rely on (it does not decode, is too large, or is dated ahead of the
        broker): it may have been a withdrawal, so no consent from now on; but the last grant's
        expiry still counts for the retention sweep, so a void version never keeps a template longer."""
        if self._new(key, offset):
            self._versions.pop(key, None)
            self._times.pop(key, None)

    def _drop(self, key: str) -> None:
        self._versions.pop(key, None)
        self._expires.pop(key, None)
        self._times.pop(key, None)

    def _new(self, key: str, offset: int | None) -> bool:
        """Whether a version at `offset` is not applied yet (each is applied once), and forget the
        decoded history it replaces."""
        if offset is not None:
            if offset <= self.offsets.get(key, -1):
                return False
            self.offsets[key] = offset
        self._forget(key)
        return True

    def _forget(self, key: str) -> None:
        """Drop the decoded history of `key`, if one is held."""
        history = self._decoded.pop(key, None)
        if history is not None:
            self._held -= len(history.versions)

    def get(self, key: str) -> ConsentHistory | None:
        history = self._decoded.get(key)
        if history is not None:
            self._decoded.move_to_end(key)
            return history
        versions = self._versions.get(key)
        if versions is None:
            return None
        # Each value decoded once already, when it was recorded: it decodes again.
        history = ConsentHistory(tuple(self.codec.decode(v, ConsentRecord) for v in versions))
        self._keep(key, history)
        return history

    def _keep(self, key: str, history: ConsentHistory) -> None:
        """Hold `history` decoded, the most recently asked for, within `capacity` versions in all."""
        self._decoded[key] = history
        self._held += len(history.versions)
        while self._held > self.capacity and len(self._decoded) > 1:  # the one just kept stays
            self._forget(next(iter(self._decoded)))

    def expires_at(self, key: str) -> datetime | None:
        """When the consent expires for decisions: the earlier end of the grant in force and the grant
        written last (None: no grant, or none with an end)."""
        return self._expires.get(key)

    def expiries(self) -> ItemsView[str, datetime]:
        """Every key whose consent expires (`expires_at`), with when."""
        return self._expires.items()

    def __len__(self) -> int:
        return len(self._versions)

    def __iter__(self) -> Iterator[str]:
        return iter(self._versions)


def _times(consent: ConsentRecord) -> tuple[int, int]:
    """When a version took effect and, a grant, when it ends (NO_END: never, or no grant), in
    milliseconds: the contract's times are whole milliseconds."""
    ends = consent.expires_at if consent.status is ConsentStatus.GRANTED else None
    return _ms(effective_at(consent)), NO_END if ends is None else _ms(ends)


def _ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


def _check_version(
    consent: ConsentRecord,
    purpose: Purpose | None,
    at: datetime,
    now: datetime,
    terms: ConsentTerms,
    minor: bool,
) -> Consented | Refusal:
    if consent.status is ConsentStatus.WITHDRAWN:
        return WITHDRAWN
    if consent.expires_at is not None and consent.expires_at <= max(at, now):
        return Refusal((Rule.SEPARATE_CONSENT, Rule.RETENTION), Reason.CONSENT_EXPIRED)
    if terms.require_separate and not consent.separate:
        return Refusal((Rule.SEPARATE_CONSENT,), Reason.CONSENT_BUNDLED)
    if terms.require_written and consent.method is not ConsentMethod.WRITTEN:
        return Refusal((Rule.SEPARATE_CONSENT,), Reason.CONSENT_NOT_WRITTEN)
    consented = set(consent.purposes) - {Purpose.UNKNOWN}  # a purpose newer than this contract grants nothing
    if (purpose not in consented) if purpose is not None else not consented:
        return Refusal((Rule.SEPARATE_CONSENT, Rule.PURPOSE_LOCK), Reason.PURPOSE_NOT_CONSENTED)
    if consent.notice_version not in terms.notice_versions:
        return Refusal((Rule.NOTICE,), Reason.NOTICE_UNKNOWN)
    if (minor or consent.minor) and not consent.guardian_consent:
        return Refusal((Rule.MINORS,), Reason.MINOR_WITHOUT_GUARDIAN)
    if minor or consent.minor:
        return Consented((Rule.SEPARATE_CONSENT, Rule.NOTICE, Rule.MINORS))
    return VALID


def withdrawn_since(history: ConsentHistory, at: datetime) -> bool:
    """Whether the consent was withdrawn at or after `at`: by a version the ledger holds, or by the
    gateway's own record, which outlives compaction (so every worker judges alike)."""
    if history.withdrawn_at is not None and at <= history.withdrawn_at:
        return True
    return len(history.versions) > 1 and any(
        v.status is ConsentStatus.WITHDRAWN and at <= effective_at(v) for v in history.versions
    )


def check_consent(
    history: ConsentHistory | None,
    purpose: Purpose | None,
    at: datetime,
    *,
    now: datetime,
    terms: ConsentTerms,
    minor: bool,
) -> Consented | Refusal:
    """The first rule the consent fails for a use of `purpose` (None: any consented purpose,
    as for an enrollment) at time `at`, judged `now`; or the rules a valid consent meets."""
    if history is None:
        return Refusal((Rule.SEPARATE_CONSENT,), Reason.NO_CONSENT)
    if history.current.status is ConsentStatus.WITHDRAWN:
        return WITHDRAWN
    if history.withdrawn_at is not None and history.current.granted_at <= history.withdrawn_at:
        return WITHDRAWN  # an older grant replayed after the withdrawal
    if withdrawn_since(history, at):  # what was collected before a withdrawal no later grant covers
        return WITHDRAWN
    then = history.in_force(at)
    if then is None:
        return Refusal((Rule.SEPARATE_CONSENT,), Reason.CONSENT_AFTER_CAPTURE)
    check = _check_version(then, purpose, at, now, terms, minor)
    if isinstance(check, Consented) and then is not history.current:  # a later update binds from the moment it is made
        check = _check_version(history.current, purpose, at, now, terms, minor)
    return check
