"""Jurisdiction packs: a law's parameters as validated data (gateway/files/packs/*.yaml)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.contract.vocabulary import DisclosureBasis, EnrollmentSource, LocationType, Purpose
from gateway.core.policy.rules import Rule
from gateway.errors import FaceGateError


class PolicyError(FaceGateError, ValueError):
    """A pack or tenant policy that does not validate, or that loosens its pack."""


def days_before(now: datetime, at: datetime, days: int) -> bool:
    """Whether `at` lies `days` or more before `now`. Counted back from `now`: a tenant's consent may
    expire in 9999, where `at + days` would overflow the calendar and end every sweep in an error."""
    try:
        return at <= now - timedelta(days=days)
    except OverflowError:  # more days than the calendar holds before `now`: nothing is that old
        return False


class Retention(BaseModel):
    """How long an enrollment may be kept (R11): the shorter of the two limits applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # After the purpose ends (the consent expires), the enrollment is erased within this many days.
    purpose_end_grace_days: int = Field(ge=0)
    # Erased this many days after the last interaction (the (re-)enrollment), whatever the purpose; None: no limit.
    max_days_since_enrollment: int | None = Field(None, ge=1)

    def outlived(self, enrolled_at: datetime, now: datetime) -> bool:
        """Whether an enrollment made at `enrolled_at` is past the limit since enrollment by `now`:
        due for erasure, and used by no decision while the sweep has yet to erase it."""
        limit = self.max_days_since_enrollment
        return limit is not None and days_before(now, enrolled_at, limit)


class Citation(BaseModel):
    """One provision a rule rests on in this pack's law (docs/legal-citations.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    cite: str = Field(
        min_length=1, description="the provision: article or section, and paragraph where the law has one"
    )
    verified: bool = Field(description="read in the published text; false: marked for legal review")
    url: str = Field(min_length=1, description="where it was (or is to be) checked")
    note: str | None = None

    @property
    def text(self) -> str:
        """As audit records carry it: the provision, and [legal review] where it was not verified."""
        return self.cite if self.verified else f"{self.cite} [legal review]"


class JurisdictionPack(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    version: str
    forbidden_purposes: frozenset[Purpose]
    private_locations: frozenset[LocationType]
    public_locations: frozenset[LocationType]
    public_place_purposes: frozenset[Purpose]
    require_signage: bool
    require_separate_consent: bool
    require_written_consent: bool
    minor_age: int = Field(ge=0, le=21)
    min_quality: float = Field(ge=0, le=1)
    identify_masked: bool
    far_target: float = Field(gt=0, lt=1)
    allow_protected_template: bool
    require_impact_assessment: bool
    alternative_method_purposes: frozenset[Purpose]
    # R15: enrolled subjects that trigger a filing duty; None where the law has none.
    filing_threshold: int | None = Field(None, ge=1)
    retention: Retention
    # R13: where this law applies; a recipient elsewhere is a cross-border transfer.
    regions: frozenset[str] = Field(min_length=1)
    cross_border_requires_transfer_mechanism: bool
    # R09: must a sharing agreement name an impact assessment?
    sharing_requires_impact_assessment: bool
    # R14: the law forbids face recognition as the only method (CAC measures art. 10): a purpose in
    # alternative_method_purposes is BLOCKED unless the tenant offers another; otherwise only flagged.
    alternative_method_required: bool = False
    # R04: identification in public places needs an authorisation the tenant policy names
    # (EU AI Act art. 5(1)(h), 5(2)-(3)); without one it is BLOCKED.
    public_place_authorisation_required: bool = False
    # R09: the only grounds this law allows a disclosure on (Tex. Bus. & Com. Code 503.001(c)(1)(A)-(D));
    # None: the law lists none, consent and an agreement suffice.
    disclosure_bases: frozenset[DisclosureBasis] | None = None
    # R17: enrollment sources refused (untargeted scraping: EU AI Act art. 5(1)(e)); UNKNOWN always is.
    forbidden_enrollment_sources: frozenset[EnrollmentSource] = frozenset()
    # Every rule's legal sources in this law; an empty list: no provision (the rule is gateway policy).
    legal_sources: dict[Rule, tuple[Citation, ...]]

    @field_validator("legal_sources")
    @classmethod
    def _every_rule(cls, value: dict[Rule, tuple[Citation, ...]]) -> dict[Rule, tuple[Citation, ...]]:
        missing = sorted(set(Rule) - set(value))
        if missing:
            raise ValueError(
                f"legal_sources must name every rule (an empty list for none): missing {', '.join(missing)}"
            )
        return value

    def sources(self, rules: Iterable[Rule]) -> list[str]:
        """The legal sources of the given rules in this pack, each once, in rule order, as
        <rule id>: <provision>; one not verified ends with [legal review]."""
        seen: dict[str, None] = {}
        for rule in sorted(set(rules)):
            for citation in self.legal_sources[rule]:
                seen.setdefault(f"{rule}: {citation.text}", None)
        return list(seen)


def parse_yaml(text: str, what: str) -> dict[str, object]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{what}: not YAML ({exc})") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{what}: expected a mapping")
    return data


def parse_pack(text: str, what: str) -> JurisdictionPack:
    """A pack from its YAML text; `what` names it in errors."""
    return JurisdictionPack.model_validate(parse_yaml(text, what))
