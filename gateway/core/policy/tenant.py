"""A tenant's policy: its pack, impact assessment, notices, and settings that may only tighten the pack.

The effective policy is the pack with the tenant's tightenings applied; its version is a hash of
its canonical form, so every decision names exactly the rules it was made under.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.contract.vocabulary import LocationType, Purpose
from gateway.core.policy.pack import JurisdictionPack, PolicyError, Retention, parse_yaml


class ImpactAssessment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reference: str = Field(min_length=1)
    dated: date


class SharingAgreement(BaseModel):
    """An agreement with another company to receive subjects' data (R09, R13)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1)
    recipient_tenant_id: str = Field(min_length=1)
    purposes: frozenset[Purpose] = Field(min_length=1)
    regions: frozenset[str] = Field(min_length=1, description="where the recipient may process the data")
    impact_assessment_reference: str | None = None
    transfer_mechanism: str | None = Field(None, description="for recipients outside the pack's regions (R13)")


class Tightening(BaseModel):
    """Settings a tenant may set only in the stricter direction than its pack."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    forbidden_purposes: frozenset[Purpose] | None = None  # may only add
    private_locations: frozenset[LocationType] | None = None  # may only add
    public_place_purposes: frozenset[Purpose] | None = None  # may only remove
    require_signage: bool | None = None  # may only turn on
    require_written_consent: bool | None = None  # may only turn on
    minor_age: int | None = Field(None, ge=0, le=21)  # may only raise
    min_quality: float | None = Field(None, ge=0, le=1)  # may only raise
    identify_masked: bool | None = None  # may only turn off
    far_target: float | None = Field(None, gt=0, lt=1)  # may only lower
    allow_protected_template: bool | None = None  # may only turn off
    retention_purpose_end_grace_days: int | None = Field(None, ge=0)  # may only lower
    retention_max_days_since_enrollment: int | None = Field(None, ge=1)  # may only lower


class TenantPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    tenant_id: str
    pack: str = "pipl-cn"
    revision: str = Field("1", description="the tenant's own label for this policy text")
    impact_assessment: ImpactAssessment | None = None
    notice_versions: frozenset[str] = Field(
        default_factory=frozenset,
        description="notices stating controller, purpose, method, retention, rights, necessity, impact (R02)",
    )
    alternative_method_offered: bool = False
    public_security_authorisation: str | None = Field(
        None,
        min_length=1,
        description="R04 where the pack asks for one (EU AI Act art. 5(3)): the reference of the judicial or "
        "independent administrative authority's authorisation of public-place identification",
    )
    forward_protected_template: bool = False
    sharing_agreements: tuple[SharingAgreement, ...] = ()
    tighten: Tightening = Tightening()

    def agrees_with(self, recipient_tenant_id: str) -> bool:
        """Whether any agreement lets the company receive subjects' data (for some purpose)."""
        return any(a.recipient_tenant_id == recipient_tenant_id for a in self.sharing_agreements)

    def agreement_with(self, recipient_tenant_id: str, purpose: Purpose) -> SharingAgreement | None:
        for agreement in self.sharing_agreements:
            if agreement.recipient_tenant_id == recipient_tenant_id and purpose in agreement.purposes:
                return agreement
        return None


class EffectivePolicy(BaseModel):
    """The pack as tightened by one tenant: what decisions run on."""

    model_config = ConfigDict(frozen=True)
    tenant_id: str
    pack: JurisdictionPack
    tenant: TenantPolicy
    forbidden_purposes: frozenset[Purpose]
    private_locations: frozenset[LocationType]
    public_place_purposes: frozenset[Purpose]
    require_signage: bool
    require_written_consent: bool
    minor_age: int
    min_quality: float
    identify_masked: bool
    far_target: float
    forward_protected_template: bool
    retention: Retention
    version: str

    @property
    def development(self) -> bool:
        return self.tenant.revision.startswith("development")


_ONLY_ADD = ("forbidden_purposes", "private_locations")


def _names(values: frozenset[object]) -> str:
    return ", ".join(sorted(str(v) for v in values))


_ONLY_ON = ("require_signage", "require_written_consent")
_ONLY_RAISE = ("minor_age", "min_quality")


def effective_policy(tenant: TenantPolicy, pack: JurisdictionPack) -> EffectivePolicy:
    """Apply a tenant's tightenings to its pack; refuse, naming each one, anything that loosens."""
    if pack.id != tenant.pack:
        raise PolicyError(f"tenant {tenant.tenant_id}: policy names pack {tenant.pack}, given {pack.id}")
    t = tenant.tighten
    merged: dict[str, object] = {}
    loosened: list[str] = []
    for name in _ONLY_ADD:
        base: frozenset[object] = getattr(pack, name)
        value = getattr(t, name)
        if value is not None and not value >= base:
            loosened.append(f"{name} drops {_names(base - value)}")
        merged[name] = base | (value or frozenset())
    if t.public_place_purposes is not None and not t.public_place_purposes <= pack.public_place_purposes:
        loosened.append(f"public_place_purposes adds {_names(t.public_place_purposes - pack.public_place_purposes)}")
    merged["public_place_purposes"] = (
        pack.public_place_purposes
        if t.public_place_purposes is None
        else t.public_place_purposes & pack.public_place_purposes
    )
    for name in _ONLY_ON:
        value = getattr(t, name)
        if value is False and getattr(pack, name):
            loosened.append(f"{name} cannot be turned off")
        merged[name] = getattr(pack, name) or bool(value)
    for name in _ONLY_RAISE:
        value = getattr(t, name)
        if value is not None and value < getattr(pack, name):
            loosened.append(f"{name} {value} is below the pack's {getattr(pack, name)}")
        merged[name] = max(getattr(pack, name), value if value is not None else getattr(pack, name))
    if t.identify_masked and not pack.identify_masked:
        loosened.append("identify_masked cannot be turned on")
    merged["identify_masked"] = pack.identify_masked and t.identify_masked is not False
    if t.far_target is not None and t.far_target > pack.far_target:
        loosened.append(f"far_target {t.far_target:g} is above the pack's {pack.far_target:g}")
    merged["far_target"] = min(pack.far_target, t.far_target or pack.far_target)
    if tenant.forward_protected_template and not pack.allow_protected_template:
        loosened.append("forward_protected_template is not allowed by the pack")
    if t.allow_protected_template:
        loosened.append("allow_protected_template can only be turned off")
    merged["forward_protected_template"] = (
        tenant.forward_protected_template and pack.allow_protected_template and t.allow_protected_template is not False
    )
    merged["retention"] = _retention(pack.retention, t, loosened)
    if loosened:
        raise PolicyError(
            f"tenant {tenant.tenant_id}: policy may only tighten pack {pack.id}, but " + "; ".join(loosened)
        )
    canonical = json.dumps(
        {"pack": pack.model_dump(mode="json"), "tenant": tenant.model_dump(mode="json"), "effective": merged},
        sort_keys=True,
        default=lambda v: sorted(v) if isinstance(v, (set, frozenset)) else str(v),
    )
    version = f"{pack.id}@{pack.version}/{tenant.revision}/{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"
    return EffectivePolicy(tenant_id=tenant.tenant_id, pack=pack, tenant=tenant, version=version, **merged)


def _retention(base: Retention, t: Tightening, loosened: list[str]) -> Retention:
    grace = base.purpose_end_grace_days
    if t.retention_purpose_end_grace_days is not None:
        if t.retention_purpose_end_grace_days > grace:
            loosened.append(f"retention_purpose_end_grace_days {t.retention_purpose_end_grace_days} is above {grace}")
        grace = min(grace, t.retention_purpose_end_grace_days)
    limit = base.max_days_since_enrollment
    if t.retention_max_days_since_enrollment is not None:
        if limit is not None and t.retention_max_days_since_enrollment > limit:
            loosened.append(
                f"retention_max_days_since_enrollment {t.retention_max_days_since_enrollment} is above {limit}"
            )
        limit = min(limit or t.retention_max_days_since_enrollment, t.retention_max_days_since_enrollment)
    return Retention(purpose_end_grace_days=grace, max_days_since_enrollment=limit)


def parse_tenant_policy(text: str, what: str) -> TenantPolicy:
    """A tenant policy from its YAML text; errors name `what` (the file) and the field."""
    try:
        return TenantPolicy.model_validate(parse_yaml(text, what))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise PolicyError(f"{what}: {problems}") from None


def development_tenant(tenant_id: str) -> TenantPolicy:
    """What development mode gives a tenant with no policy: the pack as is, a placeholder assessment."""
    return TenantPolicy(
        tenant_id=tenant_id,
        revision="development",
        impact_assessment=ImpactAssessment(reference="DEVELOPMENT-ONLY", dated=date(2000, 1, 1)),
        notice_versions=frozenset({"notice-v1"}),
        alternative_method_offered=True,
    )
