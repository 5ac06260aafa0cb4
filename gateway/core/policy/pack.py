"""Jurisdiction packs: a law's parameters as validated data (gateway/files/packs/*.yaml)."""

from __future__ import annotations

import yaml
from pydantic import BaseModel, ConfigDict, Field

from gateway.contract.vocabulary import LocationType, Purpose
from gateway.errors import FaceGateError


class PolicyError(FaceGateError, ValueError):
    """A pack or tenant policy that does not validate, or that loosens its pack."""


class Retention(BaseModel):
    """How long an enrollment may be kept (R11): the shorter of the two limits applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # After the purpose ends (the consent expires), the enrollment is erased within this many days.
    purpose_end_grace_days: int = Field(ge=0)
    # Erased this many days after the last interaction (the (re-)enrollment), whatever the purpose; None: no limit.
    max_days_since_enrollment: int | None = Field(None, ge=1)


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
