"""Who may do what on the topic contract: the four roles as Kafka ACLs (pure; no client here).

- each camera vendor writes raw captures to its own capture topic, nothing else;
- each tenant reads only its own governed and erasure topics, and writes only its own consent,
  enrollment, share-request and camera topics (the topic is the writer's identity);
- regulators read the audit topic, nothing else;
- the gateway reads its inputs and writes everything it produces, under the topic prefix, and
  owns its consumer group and Faust's internal topics (named after the app id).
Anything not allowed here is denied by the authorizer's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.contract.topics import TopicNames, check_tenant_id
from gateway.errors import FaceGateError

Principal = Annotated[str, Field(pattern=r"^User:[A-Za-z0-9._@=,+-]{1,200}$")]


class Operation(StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    DESCRIBE = "DESCRIBE"
    CREATE = "CREATE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"
    ALTER_CONFIGS = "ALTER_CONFIGS"
    # Never granted here; named so that a prune can see (and delete) grants made by hand.
    ALL = "ALL"
    DELETE = "DELETE"
    ALTER = "ALTER"
    CLUSTER_ACTION = "CLUSTER_ACTION"
    IDEMPOTENT_WRITE = "IDEMPOTENT_WRITE"
    CREATE_TOKENS = "CREATE_TOKENS"
    DESCRIBE_TOKENS = "DESCRIBE_TOKENS"


class Resource(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    # Never granted here (as above).
    CLUSTER = "CLUSTER"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"
    DELEGATION_TOKEN = "DELEGATION_TOKEN"  # noqa: S105 - a resource type's name
    USER = "USER"


class Pattern(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


@dataclass(frozen=True, order=True)
class AclRule:
    principal: str
    resource: Resource
    pattern: Pattern
    name: str
    operation: Operation


class Roles(BaseModel):
    """The principals of each role (a YAML file, or the Helm chart's values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    gateway: Principal
    vendors: dict[str, Principal] = Field(default_factory=dict, description="vendor id -> principal")
    tenants: dict[str, Principal] = Field(default_factory=dict, description="tenant id -> principal")
    regulators: list[Principal] = Field(default_factory=list)

    @field_validator("tenants", "vendors")
    @classmethod
    def _tenant_ids(cls, values: dict[str, str]) -> dict[str, str]:
        for tenant in values:
            check_tenant_id(tenant)
        return values

    @classmethod
    def load(cls, path: Path) -> Roles:
        return cls.model_validate(yaml.safe_load(path.read_text()))


def _topic(principal: str, name: str, *operations: Operation, pattern: Pattern = Pattern.LITERAL) -> list[AclRule]:
    return [AclRule(principal, Resource.TOPIC, pattern, name, op) for op in operations]


def _group(principal: str, name: str, pattern: Pattern = Pattern.PREFIXED) -> AclRule:
    return AclRule(principal, Resource.GROUP, pattern, name, Operation.READ)


class RolesError(FaceGateError, ValueError):
    """Roles whose grants would reach into one another's (the message names them)."""


def group_grants(roles: Roles, app_id: str) -> list[AclRule]:
    """Each principal's consumer groups: the gateway's is its app id; a tenant's are `<tenant>-...`,
    a regulator's `<user>-...`. READ on a group is all Kafka asks to join it, so a member of
    another's group can take its partitions and stall it: `group_overlaps` refuses roles whose
    names would share one (ids may hold '-': tenant `acme` would read `acme-eu-...`)."""
    grants = [_group(roles.gateway, app_id, Pattern.LITERAL)]
    grants += [_group(principal, f"{tenant}-") for tenant, principal in sorted(roles.tenants.items())]
    grants += [_group(regulator, f"{regulator.removeprefix('User:')}-") for regulator in roles.regulators]
    return grants


def group_overlaps(roles: Roles, app_id: str) -> list[str]:
    """Pairs of principals one of which may use a consumer group named as the other's are."""
    grants = group_grants(roles, app_id)
    return sorted(
        f"{a.principal}'s consumer groups ({a.name}...) include {b.principal}'s ({b.name}"
        f"{'...' if b.pattern is Pattern.PREFIXED else ''})"
        for a in grants
        for b in grants
        if a.principal != b.principal and a.pattern is Pattern.PREFIXED and b.name.startswith(a.name)
    )


def acl_rules(roles: Roles, prefix: str, app_id: str) -> list[AclRule]:
    """Every ACL the roles need, sorted; nothing else is allowed. Raises RolesError for roles
    whose consumer groups would overlap (`group_overlaps`): rename a tenant or principal."""
    if overlaps := group_overlaps(roles, app_id):
        raise RolesError("; ".join(overlaps) + ": ids must not extend another's with '-'")
    names = TopicNames(prefix)
    R, W, D = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    rules: list[AclRule] = []
    gw = roles.gateway
    owner = (R, W, D, Operation.CREATE, Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS)
    rules += _topic(gw, prefix, *owner, pattern=Pattern.PREFIXED)  # every contract topic
    rules += _topic(gw, f"{app_id}-", *owner, pattern=Pattern.PREFIXED)  # Faust's internal topics
    rules += group_grants(roles, app_id)
    for vendor, principal in sorted(roles.vendors.items()):
        rules += _topic(principal, names.captures(vendor), W, D)
    for tenant, principal in sorted(roles.tenants.items()):
        rules += _topic(principal, names.governed(tenant), R, D)
        rules += _topic(principal, names.erasure(tenant), R, D)
        for topic in names.tenant_inputs(tenant):
            rules += _topic(principal, topic, W, D)
    for regulator in roles.regulators:
        rules += _topic(regulator, names.audit, R, D)
    return sorted(set(rules))
