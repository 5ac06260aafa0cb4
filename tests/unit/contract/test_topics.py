"""The topic contract: names under a prefix, compaction for registries, retention by sensitivity."""

from __future__ import annotations

import pytest

from gateway.contract.topics import TopicKind, TopicNames, contract_topics, internal_topic_specs
from gateway.settings import MIN_AUDIT_RETENTION_MS, Settings


def _by_name(settings: Settings, tenants: list[str] | None = None) -> dict[str, object]:
    return {spec.name: spec for spec in contract_topics(settings, tenants)}


def test_names_follow_the_design() -> None:
    names = TopicNames("facegate.")
    assert [names.cameras("acme"), names.consent("acme"), names.enroll("acme"), names.captures("lumen"),
            names.share_requests("acme"), names.audit, names.rejected, names.governed("acme"),
            names.erasure("acme")] == [
        "facegate.cameras.acme", "facegate.consent.acme", "facegate.enroll.acme", "facegate.faces.raw.lumen",
        "facegate.share.requests.acme", "facegate.audit", "facegate.rejected", "facegate.governed.acme",
        "facegate.erasure.acme",
    ]  # fmt: skip


def test_each_tenant_and_vendor_has_its_own_inputs_and_the_shared_ones_are_retired() -> None:
    specs = {s.name for s in contract_topics(Settings(), ["acme", "beta"], ["lumen"])}
    names = TopicNames()
    for tenant in ("acme", "beta"):
        assert set(names.tenant_inputs(tenant)) <= specs
    assert names.captures("lumen") in specs and names.captures("optix") not in specs
    assert not set(names.retired) & specs
    assert names.retired == [f"facegate.{k}" for k in ("faces.raw", "consent", "enroll", "share.requests", "cameras")]


def test_prefix_changes_every_name() -> None:
    specs = contract_topics(Settings(topic_prefix="staging.fg."), ["acme"], ["lumen"])
    assert all(spec.name.startswith("staging.fg.") for spec in specs)
    assert len(specs) == 2 + 6 + 1  # audit and dead letters; six per tenant; one per vendor


def test_registries_are_compacted_and_raw_biometrics_expire_quickly() -> None:
    settings = Settings()
    specs = {s.name: s for s in contract_topics(settings, ["acme"], ["lumen"])}
    names = TopicNames()
    for name in (names.cameras("acme"), names.consent("acme")):
        assert specs[name].config["cleanup.policy"] == "compact"
        assert specs[name].kind is TopicKind.REGISTRY
    for name in (names.captures("lumen"), names.enroll("acme")):
        assert specs[name].config["cleanup.policy"] == "delete"
        assert int(specs[name].config["retention.ms"]) <= 24 * 3_600_000
    for name in (*names.tenant_inputs("acme"), names.captures("lumen")):
        assert specs[name].config["message.timestamp.type"] == "LogAppendTime", name
    assert int(specs[names.audit].config["retention.ms"]) >= MIN_AUDIT_RETENTION_MS


def test_tenant_topics_come_from_settings_or_arguments() -> None:
    settings = Settings(tenants=["acme"])
    assert "facegate.governed.acme" in {s.name for s in contract_topics(settings)}
    assert "facegate.governed.acme" not in {s.name for s in contract_topics(settings, ["beta"])}


def test_tenant_id_cannot_escape_its_topic() -> None:
    with pytest.raises(ValueError, match="tenant id"):
        TopicNames().governed("acme.audit")


@pytest.mark.parametrize("prefix", ["facegate.", "staging-fg-", "fg"])
def test_the_contract_says_which_tenant_a_topic_is_for(prefix: str) -> None:
    names = TopicNames(prefix)
    assert names.tenant_of(names.governed("acme")) == "acme" and names.tenant_of(names.erasure("a-b_c")) == "a-b_c"
    for topic in names.tenant_inputs("acme"):
        assert names.tenant_of(topic) == "acme" and names.vendor_of(topic) is None
    assert names.vendor_of(names.captures("lumen")) == "lumen" and names.tenant_of(names.captures("lumen")) is None
    assert names.kind_of(names.share_requests("acme")) == "share.requests"
    for shared in (*names.retired, names.audit, names.rejected, "other.governed.acme"):
        assert names.tenant_of(shared) is None and names.vendor_of(shared) is None
    assert names.tenant_of(f"{prefix}governed.bad tenant!") is None


def test_what_cannot_be_recomputed_is_replicated_three_times_with_two_in_sync() -> None:
    """Issue 20: audit, consent, cameras, enrolled, governed, erasure and dead letters at least
    RF 3 / min ISR 2; the hour-long inputs follow FACEGATE_REPLICATION_FACTOR."""
    names = TopicNames()
    specs = {s.name: s for s in [*contract_topics(Settings(), ["acme"], ["lumen"]), *internal_topic_specs(Settings())]}
    durable = [names.audit, names.consent("acme"), names.cameras("acme"), names.enrolled, names.governed("acme"),
               names.erasure("acme"), names.rejected]  # fmt: skip
    for name in durable:
        assert (specs[name].replication_factor, specs[name].min_insync_replicas) == (3, 2), name
    for name in (names.captures("lumen"), names.enroll("acme"), names.share_requests("acme")):
        assert (specs[name].replication_factor, specs[name].min_insync_replicas) == (1, 1), name
    assert all(s.topic_config["unclean.leader.election.enable"] == "false" for s in specs.values())
