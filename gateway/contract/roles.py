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

Principal = Annotated[str, Field(pattern=r"^User:[A-Za-z0-9._@=,+-]{1,200}$")]


class Operation(StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    DESCRIBE = "DESCRIBE"
    CREATE = "CREATE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"
    ALTER_CONFIGS = "ALTER_CONFIGS"


class Resource(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"


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


def _group(principal: str, prefix: str) -> AclRule:
    return AclRule(principal, Resource.GROUP, Pattern.PREFIXED, prefix, Operation.READ)


def acl_rules(roles: Roles, prefix: str, app_id: str) -> list[AclRule]:
    """Every ACL the roles need, sorted; nothing else is allowed."""
    names = TopicNames(prefix)
    R, W, D = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    rules: list[AclRule] = []
    gw = roles.gateway
    owner = (R, W, D, Operation.CREATE, Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS)
    rules += _topic(gw, prefix, *owner, pattern=Pattern.PREFIXED)  # every contract topic
    rules += _topic(gw, f"{app_id}-", *owner, pattern=Pattern.PREFIXED)  # Faust's internal topics
    rules.append(_group(gw, app_id))
    for vendor, principal in sorted(roles.vendors.items()):
        rules += _topic(principal, names.captures(vendor), W, D)
    for tenant, principal in sorted(roles.tenants.items()):
        rules += _topic(principal, names.governed(tenant), R, D)
        rules += _topic(principal, names.erasure(tenant), R, D)
        for topic in names.tenant_inputs(tenant):
            rules += _topic(principal, topic, W, D)
        rules.append(_group(principal, f"{tenant}-"))  # the tenant's own consumer groups
    for regulator in roles.regulators:
        rules += _topic(regulator, names.audit, R, D)
        rules.append(_group(regulator, f"{regulator.removeprefix('User:')}-"))
    return sorted(set(rules))
