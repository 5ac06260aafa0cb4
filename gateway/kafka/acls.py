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


def _current(admin: KafkaAdminClient, principals: Iterable[str]) -> list[ACL]:
    found: list[ACL] = []
    for principal in sorted(set(principals)):
        acl_filter = ACLFilter(
            principal, "*", ACLOperation.ANY, ACLPermissionType.ALLOW,
            ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
        )  # fmt: skip
        acls, error = admin.describe_acls(acl_filter)
        if error.errno != 0:
            raise RuntimeError(f"describing ACLs of {principal} failed: {error.__name__}")
        found += acls
    return found


def apply_rules(admin: KafkaAdminClient, rules: list[AclRule], prune: bool = False) -> AclChanges:
    wanted = set(rules)
    held = [(acl, _from_kafka(acl)) for acl in _current(admin, {r.principal for r in rules})]
    existing = {rule for acl, rule in held if acl.host == "*" and rule is not None}
    changes = AclChanges(created=sorted(wanted - existing), kept=sorted(wanted & existing))
    if changes.created:
        result = admin.create_acls([to_kafka(r) for r in changes.created])
        if result["failed"]:
            raise RuntimeError(f"{len(result['failed'])} ACLs could not be created: {result['failed'][0][1]}")
    if prune:
        # Deleted as Kafka holds them: a filter matches an ACL's host only where it names that
        # host, so a grant limited to one host (never the model's) is deleted by its own.
        stray = [(acl, rule) for acl, rule in held if acl.host != "*" or rule not in wanted]
        changes.deleted = sorted({rule for _, rule in stray if rule is not None})
        if stray:
            admin.delete_acls([acl for acl, _ in stray])
    return changes
