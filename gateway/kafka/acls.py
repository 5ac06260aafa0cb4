"""Applying the roles' ACLs (gateway/contract/roles.py) to a cluster with kafka-python's admin client,
for clusters without Strimzi. Idempotent: existing ACLs are kept, missing ones created, and with
`prune` the ACLs of the roles' principals that the model does not hold are deleted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

from gateway.contract.roles import AclRule, Operation, Pattern, Resource


@dataclass
class AclChanges:
    created: list[AclRule] = field(default_factory=list)
    kept: list[AclRule] = field(default_factory=list)
    deleted: list[AclRule] = field(default_factory=list)


def to_kafka(rule: AclRule) -> ACL:
    pattern = ResourcePattern(ResourceType[rule.resource.value], rule.name, ACLResourcePatternType[rule.pattern.value])
    return ACL(rule.principal, "*", ACLOperation[rule.operation.value], ACLPermissionType.ALLOW, pattern)


def _from_kafka(acl: ACL) -> AclRule | None:
    """An ALLOW ACL as the model speaks of it (every operation and resource Kafka names, so that a
    prune sees grants made by hand too); None for what the client cannot name (UNKNOWN)."""
    try:
        return AclRule(
            acl.principal,
            Resource(acl.resource_pattern.resource_type.name),
            Pattern(acl.resource_pattern.pattern_type.name),
            acl.resource_pattern.resource_name,
            Operation(acl.operation.name),
        )
    except ValueError:
        return None


def current_rules(admin: KafkaAdminClient, principals: Iterable[str]) -> set[AclRule]:
    found: set[AclRule] = set()
    for principal in sorted(set(principals)):
        acl_filter = ACLFilter(
            principal, "*", ACLOperation.ANY, ACLPermissionType.ALLOW,
            ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
        )  # fmt: skip
        acls, error = admin.describe_acls(acl_filter)
        if error.errno != 0:
            raise RuntimeError(f"describing ACLs of {principal} failed: {error.__name__}")
        found |= {rule for acl in acls if (rule := _from_kafka(acl)) is not None}
    return found


def apply_rules(admin: KafkaAdminClient, rules: list[AclRule], prune: bool = False) -> AclChanges:
    wanted = set(rules)
    existing = current_rules(admin, {r.principal for r in rules})
    changes = AclChanges(created=sorted(wanted - existing), kept=sorted(wanted & existing))
    if changes.created:
        result = admin.create_acls([to_kafka(r) for r in changes.created])
        if result["failed"]:
            raise RuntimeError(f"{len(result['failed'])} ACLs could not be created: {result['failed'][0][1]}")
    if prune:
        changes.deleted = sorted(existing - wanted)
        if changes.deleted:
            admin.delete_acls([to_kafka(r) for r in changes.deleted])
    return changes
