"""The one path by which every decision leaves the core, captures and lifecycle records alike.

A `Context` is what deciding needs besides the input: the state, the topic names, the audit chain
heads (advanced in place), which events were already decided, the time. `decide` appends the
decision's audit record to the chain of its audit partition; `emit` adds an effect (a governed
event, an enrollment, a notice); `reject` turns input that cannot be decided into a dead letter
and a REJECTED audit record. Everything lands in `result`, which the shell produces.
"""

from __future__ import annotations

import traceback
from collections import ChainMap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from gateway.contract.models import CameraRegistration, ConsentRecord, FaceCaptured
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision, Purpose
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.log import audit_output
from gateway.core.messages import BatchResult, InputRecord, Output, ahead_of_broker
from gateway.core.policy.outcome import Outcome, Refusal
from gateway.core.policy.pack import JurisdictionPack
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from gateway.core.records import (
    NO_POLICY,
    UNKNOWN_TENANT,
    audit_fields,
    audit_id,
    rejected_event,
    undecodable_event_id,
)
from gateway.core.state import GatewayState
from gateway.keyring import MissingKeyError

UNDECIDABLE = (Rule.AUDIT,)  # input refused before any rule could be applied: only the audit rule speaks


Decide = Callable[[Sequence[InputRecord], "Context"], object]


@dataclass(frozen=True)
class Identification:
    """An identification ran: the EU AI Act art. 12(3) log of the reference database and the period of use."""

    reference_database: str
    started: datetime
    ended: datetime


@dataclass(frozen=True)
class Decided:
    """One decision as the audit records it: what was decided, about whom, in which context."""

    event_id: str
    tenant_id: str
    outcome: Outcome
    subject_id: str | None = None  # internal; the audit gets the regulator's pseudonym
    capture: FaceCaptured | None = None
    camera: CameraRegistration | None = None
    purpose: Purpose | None = None
    recipient_tenant_id: str | None = None
    identification: Identification | None = None
    consent: ConsentRecord | None = None  # the consent version a lifecycle decision records (method, evidence)
    known_as: str | None = None  # a capture's records.capture_key; anything else is known by its event id

    @property
    def audit_id(self) -> str:
        """The decision's id, by which its repeats are known: a digest of the tenant and what the
        decision is known by (`known_as`, else the event id)."""
        return audit_id(self.tenant_id, self.known_as if self.known_as is not None else self.event_id)


@dataclass
class Context:
    state: GatewayState
    names: TopicNames
    heads: dict[int, ChainHead]  # per audit partition; advanced in place
    is_seen: Callable[[int, str], bool]  # (audit partition, audit id): decided before?
    now: datetime
    audit_partitions: int
    # The consent and enrollment feeds lag beyond their bound: a withdrawal not read yet must not
    # be overtaken, so nothing is forwarded (R01), everything identified is stripped.
    feeds_behind: bool = False
    # The feeds were synced after these records were fetched (or a sync was tried and timed out):
    # nothing is worth deciding again for what they had not read (lifecycle.dispatch.worth_redoing).
    synced: bool = False
    result: BatchResult = field(default_factory=BatchResult)
    # (audit partition, audit id) of the decisions this context adopted, which the log `is_seen`
    # reads does not hold yet: a repeat decided apart from its first (in a later slice of the batch,
    # or one at a time after the batch's try failed) is a duplicate too. A fork reads its parent's
    # and adds its own in front, so a try that is thrown away leaves nothing behind.
    earlier: ChainMap[tuple[int, str], None] = field(default_factory=ChainMap)
    # (audit partition, audit id) that `is_seen` said were not decided: a capture is asked about at
    # intake and again as it is decided. The log it reads only grows when a batch commits, after its
    # contexts are done, so a no stays a no; forks share it.
    _not_seen: set[tuple[int, str]] = field(default_factory=set, repr=False)
    # A pack's legal sources per set of rules, worked out once per batch (most decisions share a few sets).
    _sources: dict[tuple[int, tuple[Rule, ...]], list[str]] = field(default_factory=dict, repr=False)

    def audit_partition(self, input_partition: int) -> int:
        """Inputs of partition p are audited in audit partition p (co-partitioned topics)."""
        return input_partition % self.audit_partitions

    def from_the_future(self, record: InputRecord, *claimed: datetime | None) -> bool:
        """Whether a time a producer claims lies beyond the broker's append time plus the skew."""
        return ahead_of_broker(record.timestamp_ms, self.state.clock_skew, *claimed)

    def seen(self, input_partition: int, tenant_id: str, key: str) -> bool:
        """Whether the decision known as `key` (Decided.known_as, else its event id) for the tenant
        is in the audit already."""
        return self._decided(self.audit_partition(input_partition), audit_id(tenant_id, key))

    def _decided(self, partition: int, decided_id: str) -> bool:
        key = (partition, decided_id)
        if key not in self._not_seen:
            if self.is_seen(partition, decided_id):
                return True
            self._not_seen.add(key)
        for earlier in self.earlier.maps:  # noqa: SIM110 (ChainMap's `in` and `any` run a generator: twice per capture)
            if key in earlier:
                return True
        return False

    def policy_version(self, tenant_id: str) -> str:
        policy = self.state.policy(tenant_id)
        return policy.version if policy else NO_POLICY

    def emit(self, output: Output) -> None:
        self.result.outputs.append(output)

    def decide(self, decided: Decided, input_partition: int) -> None:
        """The audit record of a decision; a decision already in the audit log is not repeated."""
        partition = self.audit_partition(input_partition)
        decided_id = decided.audit_id
        if self._decided(partition, decided_id):
            self.result.duplicates += 1
            return
        subject = decided.subject_id
        policy = self.state.policy(decided.tenant_id) if decided.tenant_id != UNKNOWN_TENANT else None
        pack = policy.pack if policy is not None else None
        fields = audit_fields(
            decided,
            policy_version=policy.version if policy is not None else NO_POLICY,
            recorded_at=self.now,
            subject_pseudonym=self.state.regulator_pseudonym(decided.tenant_id, subject) if subject else None,
            pack=pack,
            legal_sources=self._legal_sources(pack, decided.outcome) if pack is not None else [],
        )
        self.emit(audit_output(fields, self.heads, partition, self.names.audit, self.state.codec))
        self.result.seen.append((partition, decided_id))
        self.result.decisions.append((decided.tenant_id, decided.outcome))

    def _legal_sources(self, pack: JurisdictionPack, outcome: Outcome) -> list[str]:
        rules = (*outcome.rule_ids, *outcome.alerts)
        key = (id(pack), rules)  # the state holds the pack for the batch: its id is not reused meanwhile
        if key not in self._sources:
            self._sources[key] = pack.sources(rules)
        return list(self._sources[key])

    def reject(
        self,
        record: InputRecord,
        refusal: Refusal,
        detail: str | None = None,
        *,
        tenant_id: str | None = None,
        capture: FaceCaptured | None = None,
        known_as: str | None = None,
    ) -> None:
        """Input that cannot be decided: a dead letter without its payload, and a REJECTED audit
        record. A capture comes with what it is known by (`known_as`, records.capture_key)."""
        event_id = capture.event_id if capture else undecodable_event_id(record.topic, record.partition, record.offset)
        tenant = capture.tenant_id if capture else tenant_id or UNKNOWN_TENANT
        if self.seen(record.partition, tenant, known_as or event_id):
            self.result.duplicates += 1
            return
        outcome = refusal.outcome(Decision.REJECTED)
        self.dead_letter(record, outcome, detail, capture)
        self.decide(Decided(event_id, tenant, outcome, capture=capture, known_as=known_as), record.partition)

    def keyed_by(self, record: InputRecord, tenant_id: str, subject_id: str) -> bool:
        """Whether the record's key is the tenant and subject its body names; if not, it is rejected
        (audited under its topic's tenant, the only one it may speak for)."""
        if record.key == f"{tenant_id}/{subject_id}".encode():
            return True
        refusal = Refusal(UNDECIDABLE, Reason.KEY_MISMATCH)
        detail = "the record's tenant and subject differ from its key"
        self.reject(record, refusal, detail, tenant_id=self.names.tenant_of(record.topic) or tenant_id)
        return False

    def fork(self) -> Context:
        """A context to try a decision in: the same state, its own chain heads and result."""
        return replace(self, heads=dict(self.heads), result=BatchResult(), earlier=self.earlier.new_child())

    def adopt(self, tried: Context) -> None:
        """Keep what a forked context decided."""
        self.heads.update(tried.heads)
        result, done = self.result, tried.result
        result.outputs += done.outputs
        result.seen += done.seen
        self.earlier.update(dict.fromkeys(done.seen))
        result.decisions += done.decisions
        result.duplicates += done.duplicates
        result.errors += done.errors

    def decide_each(self, records: Sequence[InputRecord], decide: Decide) -> None:
        """Decide `records` together; if that raises, one at a time, so that an error deciding one
        record never stops the others (nor the worker): that record alone is REJECTED, with a
        reason naming the kind of error and nothing of the record, and counted in `errors`."""
        if len(records) != 1 and self._tried(records, decide) is None:
            return
        for record in records:
            error = self._tried([record], decide)
            if error is not None:
                self.result.errors.append(_described(error))
                reason = Reason.TENANT_NOT_PROVISIONED if isinstance(error, MissingKeyError) else Reason.INTERNAL_ERROR
                detail = f"could not be decided ({type(error).__name__})"
                self.reject(record, Refusal(UNDECIDABLE, reason), detail, tenant_id=self.names.tenant_of(record.topic))

    def _tried(self, records: Sequence[InputRecord], decide: Decide) -> Exception | None:
        """Decide in a fork and keep the result, or return what it raised (and keep nothing)."""
        tried = self.fork()
        try:
            decide(records, tried)
        except Exception as exc:  # any bug in deciding: confined to these records by the caller
            return exc
        self.adopt(tried)
        return None

    def dead_letter(
        self, record: InputRecord, outcome: Outcome, detail: str | None, capture: FaceCaptured | None = None
    ) -> None:
        """Where the input was, why it was refused, a digest of it; no payload, no biometric field.
        Its code is the refusal's: the image a capture carried is discarded whatever the decision,
        a note beside it (the codes are in code order: IMAGE_DISCARDED sorted before VENDOR_MISMATCH)."""
        reason = detail or f"rejected: {', '.join(outcome.reason_codes)}"
        codes = outcome.reason_codes
        why = next((code for code in codes if code is not Reason.IMAGE_DISCARDED), codes[0])
        dead = rejected_event(record, why, reason, self.now, capture)
        self.emit(Output(self.names.rejected, dead.rejected_id.encode(), self.state.codec.encode(dead)))


def _described(exc: Exception) -> str:
    """Where an error was raised, without its message or any value: records may hold biometric data."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))
    return f"{type(exc).__name__} at {where}"
