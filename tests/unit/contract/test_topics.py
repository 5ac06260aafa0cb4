"""The topic contract: names under a prefix, compaction for registries, retention by sensitivity."""

from __future__ import annotations

import pytest

from gateway.contract.topics import TopicKind, TopicNames, contract_topics, internal_topic_specs
from gateway.settings import MIN_AUDIT_RETENTION_MS, Settings


def _by_name(settings: Settings, tenants: list[str] | None = None) -> dict[str, object]:
    return {spec.name: spec for spec in contract_topics(settings, tenants)}


def test_names_follow_the_design() -> None:
    names = TopicNames("facegate.")
    assert [names.cameras, names.consent, names.enroll, names.raw, names.share_requests, names.audit,
            names.rejected, names.governed("acme"), names.erasure("acme")] == [
        "facegate.cameras", "facegate.consent", "facegate.enroll", "facegate.faces.raw",
        "facegate.share.requests", "facegate.audit", "facegate.rejected", "facegate.governed.acme",
        "facegate.erasure.acme",
    ]  # fmt: skip


def test_prefix_changes_every_name() -> None:
    specs = contract_topics(Settings(topic_prefix="staging.fg."), ["acme"])
    assert all(spec.name.startswith("staging.fg.") for spec in specs)
    assert len(specs) == 9


def test_registries_are_compacted_and_raw_biometrics_expire_quickly() -> None:
    settings = Settings()
    specs = {s.name: s for s in contract_topics(settings, ["acme"])}
    names = TopicNames()
    for name in (names.cameras, names.consent):
        assert specs[name].config["cleanup.policy"] == "compact"
        assert specs[name].kind is TopicKind.REGISTRY
    for name in (names.raw, names.enroll):
        assert specs[name].config["cleanup.policy"] == "delete"
        assert int(specs[name].config["retention.ms"]) <= 24 * 3_600_000
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
    for shared in (names.raw, names.audit, names.consent, names.rejected, "other.governed.acme"):
        assert names.tenant_of(shared) is None
    assert names.tenant_of(f"{prefix}governed.bad tenant!") is None


def test_what_cannot_be_recomputed_is_replicated_three_times_with_two_in_sync() -> None:
    """Issue 20: audit, consent, cameras, enrolled, governed, erasure and dead letters at least
    RF 3 / min ISR 2; the hour-long inputs follow FACEGATE_REPLICATION_FACTOR."""
    names = TopicNames()
    specs = {s.name: s for s in [*contract_topics(Settings(), ["acme"]), *internal_topic_specs(Settings())]}
    durable = [names.audit, names.consent, names.cameras, names.enrolled, names.governed("acme"),
               names.erasure("acme"), names.rejected]  # fmt: skip
    for name in durable:
        assert (specs[name].replication_factor, specs[name].min_insync_replicas) == (3, 2), name
    for name in (names.raw, names.enroll, names.share_requests):
        assert (specs[name].replication_factor, specs[name].min_insync_replicas) == (1, 1), name
    assert all(s.topic_config["unclean.leader.election.enable"] == "false" for s in specs.values())
