"""One lifecycle decision under way: where its audit record goes and what it produces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision, Purpose
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.log import audit_output
from gateway.core.messages import BatchResult, InputRecord, Output
from gateway.core.policy.decision import Outcome
from gateway.core.records import NO_POLICY, UNKNOWN_TENANT, audit_fields, rejected_event, undecodable_event_id
from gateway.core.state import GatewayState


@dataclass
class Step:
    state: GatewayState
    names: TopicNames
    heads: dict[int, ChainHead]
    is_seen: Callable[[int, str], bool]
    now: datetime
    partition: int  # the audit partition this step's records are chained into
    result: BatchResult = field(default_factory=BatchResult)

    def policy_version(self, tenant_id: str) -> str:
        policy = self.state.policy(tenant_id)
        return policy.version if policy else NO_POLICY

    def emit(self, output: Output) -> None:
        self.result.outputs.append(output)

    def decide(
        self,
        event_id: str,
        tenant_id: str,
        outcome: Outcome,
        *,
        subject_id: str | None = None,
        purpose: Purpose | None = None,
        recipient_tenant_id: str | None = None,
    ) -> None:
        """The audit record of a decision; a decision already in the audit log is not repeated."""
        if self.is_seen(self.partition, event_id):
            self.result.duplicates += 1
            return
        self.result.decisions.append((tenant_id, outcome))
        fields = audit_fields(
            event_id=event_id,
            tenant_id=tenant_id,
            outcome=outcome,
            policy_version=self.policy_version(tenant_id),
            recorded_at=self.now,
            subject_pseudonym=self.state.regulator_pseudonym(tenant_id, subject_id) if subject_id else None,
            purpose=purpose,
            recipient_tenant_id=recipient_tenant_id,
        )
        self.emit(audit_output(fields, self.heads, self.partition, self.names.audit, self.state.codec))
        self.result.seen.append((self.partition, event_id))

    def reject(self, record: InputRecord, reason_code: str, reason: str, tenant_id: str | None = None) -> None:
        """Input that cannot be decided: a dead letter without its payload, and a REJECTED audit record."""
        dead = rejected_event(
            topic=record.topic, partition=record.partition, offset=record.offset, payload=record.value or b"",
            reason_code=reason_code, reason=reason, rejected_at=self.now,
        )  # fmt: skip
        self.emit(Output(self.names.rejected, dead.rejected_id.encode(), self.state.codec.encode(dead)))
        outcome = Outcome(Decision.REJECTED, ("R19",), (reason_code,))
        event_id = undecodable_event_id(record.topic, record.partition, record.offset)
        self.decide(event_id, tenant_id or UNKNOWN_TENANT, outcome)
