"""The roles' ACL model: least privilege, each role only its part of the topic contract."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.contract.roles import Operation, Pattern, Resource, Roles, acl_rules
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
