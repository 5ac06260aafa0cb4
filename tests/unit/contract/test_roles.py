"""The roles' ACL model: least privilege, each role only its part of the topic contract."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.contract.roles import Operation, Pattern, Resource, Roles, RolesError, acl_rules, group_overlaps
from gateway.contract.topics import TopicNames

ROLES = Roles(
    gateway="User:gw",
    vendors={"lumen": "User:v1", "optix": "User:v2"},
    tenants={"acme": "User:acme", "beta": "User:beta"},
    regulators=["User:reg"],
)
NAMES = TopicNames("facegate.")
RULES = acl_rules(ROLES, "facegate.", "facegate")


def allowed(principal: str) -> set[tuple[str, str]]:
    return {(r.name, r.operation) for r in RULES if r.principal == principal and r.resource is Resource.TOPIC}


def test_vendors_only_write_their_own_capture_topic() -> None:
    assert allowed("User:v1") == {
        (NAMES.captures("lumen"), Operation.WRITE),
        (NAMES.captures("lumen"), Operation.DESCRIBE),
    }
    assert not [r for r in RULES if r.principal == "User:v1" and r.resource is Resource.GROUP]
    assert allowed("User:v2") == {
        (NAMES.captures("optix"), Operation.WRITE),
        (NAMES.captures("optix"), Operation.DESCRIBE),
    }


def test_a_tenant_reads_only_its_own_topics_and_writes_its_inputs() -> None:
    acme = allowed("User:acme")
    reads = {name for name, op in acme if op is Operation.READ}
    writes = {name for name, op in acme if op is Operation.WRITE}
    assert reads == {NAMES.governed("acme"), NAMES.erasure("acme")}
    assert writes == {NAMES.consent("acme"), NAMES.enroll("acme"), NAMES.share_requests("acme"), NAMES.cameras("acme")}
    assert not any("beta" in name for name, _ in acme)
    assert not set(NAMES.retired) & {name for name, _ in acme}, "no shared input topic: the topic is the writer"


def test_regulators_only_read_the_audit() -> None:
    assert allowed("User:reg") == {(NAMES.audit, Operation.READ), (NAMES.audit, Operation.DESCRIBE)}


def test_only_the_gateway_holds_prefixed_topic_rights_and_its_group() -> None:
    prefixed = {r.principal for r in RULES if r.pattern is Pattern.PREFIXED and r.resource is Resource.TOPIC}
    assert prefixed == {"User:gw"}
    assert any(r.principal == "User:gw" and r.resource is Resource.GROUP and r.name == "facegate" for r in RULES)
    assert sorted(set(RULES)) == RULES, "sorted, no repeats"


def test_principals_and_tenant_ids_are_checked() -> None:
    with pytest.raises(ValidationError):
        Roles(gateway="gw")
    with pytest.raises(ValidationError):
        Roles(gateway="User:gw", tenants={"bad tenant": "User:x"})
    with pytest.raises(ValidationError):
        Roles(gateway="User:gw", vendors={"bad/vendor": "User:x"})


@pytest.mark.parametrize(
    ("roles", "app_id", "overlap"),
    [
        (Roles(gateway="User:gw", tenants={"acme": "User:a", "acme-eu": "User:b"}), "facegate", "acme-eu-"),
        (Roles(gateway="User:gw", tenants={"eu": "User:t"}, regulators=["User:eu-dpa"]), "facegate", "eu-dpa-"),
        (Roles(gateway="User:gw", tenants={"facegate": "User:t"}), "facegate-prod", "facegate-prod"),
    ],
)
def test_no_principal_may_join_anothers_consumer_groups(roles: Roles, app_id: str, overlap: str) -> None:
    # READ on a group is all Kafka asks to join it: a member of another's group takes partitions
    # and stalls it. Ids may hold '-', so the prefixes alone do not keep the groups apart.
    with pytest.raises(RolesError, match=overlap):
        acl_rules(roles, "facegate.", app_id)
    groups = [r for r in RULES if r.resource is Resource.GROUP]
    assert not group_overlaps(ROLES, "facegate") and len(groups) == 1 + len(ROLES.tenants) + len(ROLES.regulators)
    for a in groups:
        for b in groups:
            assert a == b or a.pattern is Pattern.LITERAL or not b.name.startswith(a.name)
    assert {r.pattern for r in groups if r.principal == "User:gw"} == {Pattern.LITERAL}, "the app id's group alone"


def test_a_prune_deletes_every_grant_of_the_principals_the_model_does_not_hold() -> None:
    # Grants made by hand of kinds the model never makes (ALL, DELETE, a transactional id) too:
    # a prune that could not name them left them in place.
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType
    from kafka.errors import NoError

    from gateway.kafka.acls import apply_rules, to_kafka

    def allow(
        operation: ACLOperation, resource: ResourceType, name: str, pattern: ACLResourcePatternType, host: str = "*"
    ) -> ACL:
        return ACL("User:acme", host, operation, ACLPermissionType.ALLOW, ResourcePattern(resource, name, pattern))

    stray = [
        allow(ACLOperation.ALL, ResourceType.TOPIC, "facegate.", ACLResourcePatternType.PREFIXED),
        allow(ACLOperation.DELETE, ResourceType.GROUP, "*", ACLResourcePatternType.LITERAL),
        allow(ACLOperation.WRITE, ResourceType.TRANSACTIONAL_ID, "*", ACLResourcePatternType.LITERAL),
        allow(ACLOperation.READ, ResourceType.TOPIC, "facegate.audit", ACLResourcePatternType.LITERAL),
        # One host only: deleted by its own host (a filter for any host matches only grants to any);
        # nor does it stand in for the grant the model makes from any host.
        allow(
            ACLOperation.WRITE, ResourceType.TOPIC, "facegate.consent.acme", ACLResourcePatternType.LITERAL, "10.0.0.5"
        ),
    ]

    class Admin:
        def __init__(self) -> None:
            self.deleted: list[ACL] = []

        def describe_acls(self, acl_filter: Any) -> tuple[list[ACL], Any]:
            held = [to_kafka(r) for r in RULES if r.principal == acl_filter.principal]
            return held + [a for a in stray if a.principal == acl_filter.principal], NoError

        def create_acls(self, acls: list[ACL]) -> dict[str, list[Any]]:
            return {"failed": []}

        def delete_acls(self, acls: list[ACL]) -> None:
            self.deleted = acls

    admin = Admin()
    changes = apply_rules(admin, RULES, prune=True)
    assert not changes.created and len(changes.kept) == len(RULES)
    assert sorted(map(repr, admin.deleted)) == sorted(map(repr, stray)), "each as Kafka holds it, host and all"
