"""Tenant policies from the operator's policy folder, applied to the packs they name."""

from __future__ import annotations

from pathlib import Path

from gateway.core.policy.pack import PolicyError
from gateway.core.policy.tenant import (
    EffectivePolicy,
    TenantPolicy,
    development_tenant,
    effective_policy,
    parse_tenant_policy,
)
from gateway.files.packs import load_pack


def policy_of(tenant: TenantPolicy) -> EffectivePolicy:
    """A tenant policy applied to the shipped pack it names."""
    return effective_policy(tenant, load_pack(tenant.pack))


def load_tenant_policy(path: Path) -> EffectivePolicy:
    """Read, validate and apply one tenant policy file; errors name the file and field."""
    return policy_of(parse_tenant_policy(path.read_text(), path.name))


def load_policies(directory: Path) -> dict[str, EffectivePolicy]:
    """Every *.yaml tenant policy in a folder, by tenant id."""
    policies: dict[str, EffectivePolicy] = {}
    for path in sorted(directory.glob("*.yaml")):
        policy = load_tenant_policy(path)
        if policy.tenant_id in policies:
            raise PolicyError(f"{path.name}: a second policy for tenant {policy.tenant_id}")
        policies[policy.tenant_id] = policy
    return policies


def development_policy(tenant_id: str) -> EffectivePolicy:
    """What development mode gives a tenant with no policy: its pack as is, a placeholder assessment."""
    return policy_of(development_tenant(tenant_id))
