"""What a decision concluded: an Outcome, or a Refusal on the way to one. The rule ids, reason
codes and alerts of a decision are merged in one place (`merged`), sorted, each once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from gateway.contract.vocabulary import Decision
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule

Code = TypeVar("Code", bound=StrEnum)


def merged(*groups: Iterable[Code]) -> tuple[Code, ...]:
    """The codes of all groups, each once, in code order (audit records compare equal on a redo)."""
    return tuple(sorted({code for group in groups for code in group}))


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    rule_ids: tuple[Rule, ...]
    reason_codes: tuple[Reason, ...] = ()
    alerts: tuple[Rule, ...] = ()
    subject_id: str | None = field(default=None, repr=False)  # internal: never leaves the gateway
    consent_ref: str | None = None
    score: float | None = None

    def with_rules(
        self, rules: Iterable[Rule] = (), reasons: Iterable[Reason] = (), alerts: Iterable[Rule] = ()
    ) -> Outcome:
        """The same outcome naming more rules, reasons or alerts."""
        return Outcome(
            self.decision,
            merged(self.rule_ids, rules),
            merged(self.reason_codes, reasons),
            merged(self.alerts, alerts),
            self.subject_id,
            self.consent_ref,
            self.score,
        )


@dataclass(frozen=True)
class Refusal:
    """The first rule a request fails and why: the one shape of every refusal (screening,
    consent, enrollment, sharing, undecodable input)."""

    rules: tuple[Rule, ...]
    reason: Reason

    def outcome(self, decision: Decision, *, consent_ref: str | None = None, score: float | None = None) -> Outcome:
        return Outcome(decision, merged(self.rules), (self.reason,), consent_ref=consent_ref, score=score)
