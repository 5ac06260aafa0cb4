"""Durability without Kafka: replication and min.insync.replicas per topic kind, capped on small
development clusters, refused in production; what `topics describe` calls drift; the nodes of a
local three-broker cluster and the configs they are started with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.brokers.apache_kafka import CONTROLLER_ID, KafkaBroker, KafkaCluster
from gateway.contract.topics import DURABLE_KINDS, TopicKind, TopicSpec, contract_topics, internal_topic_specs
from gateway.kafka.provisioning import (
    Action,
    ProvisioningError,
    TopicState,
    drift,
    ensure_topics,
    expected_config,
    strict,
)
from gateway.settings import Settings


def _specs(settings: Settings) -> list[TopicSpec]:
    return [*contract_topics(settings, ["acme"], ["lumen"]), *internal_topic_specs(settings)]


# -- the derivation --------------------------------------------------------------------------------
def test_durable_kinds_default_to_three_replicas_and_two_in_sync() -> None:
    by_kind: dict[TopicKind, set[tuple[int, int]]] = {}
    for spec in _specs(Settings()):
        by_kind.setdefault(spec.kind, set()).add((spec.replication_factor, spec.min_insync_replicas))
    assert set(by_kind) == set(TopicKind)
    for kind, durability in by_kind.items():
        assert durability == ({(3, 2)} if kind in DURABLE_KINDS else {(1, 1)}), kind


def test_every_contract_topic_refuses_unclean_leader_election() -> None:
    for spec in _specs(Settings(replication_factor=3)):
        assert spec.topic_config["unclean.leader.election.enable"] == "false"
        assert spec.topic_config["min.insync.replicas"] == "2"
        assert spec.topic_config.items() >= spec.config.items()


def test_the_general_replication_factor_raises_the_durable_ones_too() -> None:
    specs = {s.name: s for s in _specs(Settings(replication_factor=5, min_insync_replicas=3))}
    assert {(s.replication_factor, s.min_insync_replicas) for s in specs.values()} == {(5, 3)}
    lowered = _specs(Settings(durable_replication_factor=1, min_insync_replicas=2))
    assert {(s.replication_factor, s.min_insync_replicas) for s in lowered} == {(1, 1)}


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 2)), (3, (3, 2)), (5, (3, 2))]
)  # fmt: skip
def test_a_small_cluster_caps_replication_and_min_insync(brokers: int, expected: tuple[int, int]) -> None:
    audit = TopicSpec("a", TopicKind.AUDIT, 4, 3, {}, "", 2).on_cluster(brokers)
    assert (audit.replication_factor, audit.min_insync_replicas) == expected


# -- drift -----------------------------------------------------------------------------------------
AUDIT = TopicSpec("fg.audit", TopicKind.AUDIT, 4, 3, {"cleanup.policy": "delete"}, "", 2)


def _state(replicas: int, min_isr: str, unclean: str = "false", partitions: int = 4) -> TopicState:
    config = {"cleanup.policy": "delete", "min.insync.replicas": min_isr, "unclean.leader.election.enable": unclean}
    return TopicState(AUDIT.name, True, partitions, replicas, config)


def test_a_topic_at_its_durability_has_no_drift() -> None:
    assert drift(AUDIT, _state(3, "2"), brokers=3) == ()
    assert drift(AUDIT, _state(1, "1"), brokers=1) == (), "a one-broker cluster holds no more"


@pytest.mark.parametrize(
    ("state", "brokers", "found"),
    [
        (_state(3, "1"), 3, "min.insync.replicas: 1, configured 2"),
        (_state(1, "1"), 3, "replication factor: 1, configured 3"),
        (_state(2, "2"), 3, "replication factor: 2, configured 3"),
        (_state(3, "2", unclean="true"), 3, "unclean.leader.election.enable: true, configured false"),
        (_state(3, "2", partitions=2), 3, "partitions: 2, configured 4"),
    ],
)
def test_below_the_configured_durability_is_drift(state: TopicState, brokers: int, found: str) -> None:
    assert found in drift(AUDIT, state, brokers)


def test_min_insync_is_never_expected_above_the_replicas_a_topic_has() -> None:
    assert expected_config(AUDIT, _state(1, "1"))["min.insync.replicas"] == "1"
    assert expected_config(AUDIT, _state(3, "1"))["min.insync.replicas"] == "2"


# -- provisioning against a fake admin client ------------------------------------------------------
class FakeAdmin:
    """The admin calls provisioning makes, over a dict of topics."""

    def __init__(self, brokers: int, topics: dict[str, tuple[int, int, dict[str, str]]] | None = None) -> None:
        self.brokers = brokers
        self.topics = dict(topics or {})
        self.created: list[Any] = []
        self.altered: dict[str, dict[str, str]] = {}

    def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [{"broker_id": i} for i in range(1, self.brokers + 1)]}

    def list_topics(self) -> list[str]:
        return list(self.topics)

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        out = []
        for name in names:
            partitions, replicas, _ = self.topics[name]
            parts = [{"partition_index": p, "replica_nodes": list(range(1, replicas + 1))} for p in range(partitions)]
            out.append({"name": name, "partitions": parts})
        return out

    def describe_configs(self, resources: list[Any], config_filter: str) -> dict[str, Any]:
        return {"topic": {r.name: {k: {"value": v} for k, v in self.topics[r.name][2].items()} for r in resources}}

    def create_topics(self, new: list[Any], raise_errors: bool) -> dict[str, Any]:
        self.created += new
        for topic in new:
            self.topics[topic.name] = (topic.num_partitions, topic.replication_factor, dict(topic.topic_configs))
        return {"topics": [{"name": t.name, "error_code": 0} for t in new]}

    def alter_configs(self, resources: list[Any], incremental: bool, raise_on_unknown: bool) -> dict[str, Any]:
        for r in resources:
            self.altered[r.name] = dict(r.configs)
            self.topics[r.name][2].update(r.configs)
        return {"topic": {r.name: "OK" for r in resources}}

    def create_partitions(self, counts: dict[str, int]) -> None:
        for name, count in counts.items():
            _, replicas, config = self.topics[name]
            self.topics[name] = (count, replicas, config)


def test_three_brokers_get_the_configured_durability() -> None:
    admin = FakeAdmin(3)
    outcomes = ensure_topics(admin, _specs(Settings()))
    assert {o.action for o in outcomes} == {Action.CREATED} and not any(o.warnings for o in outcomes)
    audit = next(t for t in admin.created if t.name == "facegate.audit")
    assert audit.replication_factor == 3
    assert audit.topic_configs["min.insync.replicas"] == "2"
    assert audit.topic_configs["unclean.leader.election.enable"] == "false"
    again = ensure_topics(admin, _specs(Settings()))
    assert {o.action for o in again} == {Action.UNCHANGED} and not any(o.warnings for o in again)


def test_one_broker_caps_with_a_note_and_stays_unchanged_afterwards() -> None:
    admin = FakeAdmin(1)
    outcomes = {o.spec.name: o for o in ensure_topics(admin, _specs(Settings()))}
    audit = outcomes["facegate.audit"]
    assert (audit.spec.replication_factor, audit.spec.min_insync_replicas) == (1, 1)
    assert audit.warnings == (
        "replication factor 3 and min.insync.replicas 2 capped at 1 and 1: the cluster has 1 broker(s)",
    )
    assert not outcomes["facegate.faces.raw.lumen"].warnings, "the inputs are configured with one replica"
    again = ensure_topics(admin, _specs(Settings()))
    assert {o.action for o in again} == {Action.UNCHANGED}
    assert not admin.altered, "min.insync.replicas is never raised above a topic's replicas"


def test_production_refuses_to_create_under_replicated_topics() -> None:
    settings = Settings(env="production")
    assert strict(settings) and not strict(Settings())
    admin = FakeAdmin(2)
    with pytest.raises(ProvisioningError, match=r"2 broker\(s\), fewer than the replicas of .*facegate.audit"):
        ensure_topics(admin, _specs(settings), strict(settings))
    assert not admin.created


def test_an_outage_never_lowers_an_existing_topics_durability() -> None:
    """`topics create` while two of three brokers are down: no min.insync.replicas is lowered."""
    spec = next(s for s in _specs(Settings()) if s.kind is TopicKind.AUDIT)
    admin = FakeAdmin(1, {spec.name: (4, 3, dict(spec.topic_config))})
    [outcome] = ensure_topics(admin, [spec], strict=True)
    assert outcome.action is Action.UNCHANGED and not admin.altered


def test_a_weakened_topic_is_set_back_and_under_replication_is_reported() -> None:
    spec = next(s for s in _specs(Settings()) if s.kind is TopicKind.AUDIT)
    weakened = {**spec.topic_config, "min.insync.replicas": "1", "unclean.leader.election.enable": "true"}
    admin = FakeAdmin(3, {spec.name: (4, 3, weakened)})
    [outcome] = ensure_topics(admin, [spec])
    assert outcome.action is Action.UPDATED
    assert admin.altered[spec.name] == {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}

    admin = FakeAdmin(3, {spec.name: (4, 1, dict(spec.topic_config))})
    [outcome] = ensure_topics(admin, [spec])
    assert admin.altered[spec.name] == {"min.insync.replicas": "1"}, "one replica: acks=all must still work"
    assert "replication factor is 1, configured 3; raising it needs a partition reassignment" in outcome.warnings


# -- the local cluster's nodes ---------------------------------------------------------------------
def test_three_brokers_and_a_dedicated_controller(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path / "libs", tmp_path / "data", base_port=19092)
    assert cluster.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    [controller] = cluster.controllers
    assert [n.node_id for n in cluster.processes] == [CONTROLLER_ID, 1, 2, 3]
    assert controller.server_properties()["process.roles"] == "controller"
    assert controller.server_properties()["listeners"] == "CONTROLLER://127.0.0.1:19095"
    assert "advertised.listeners" not in controller.server_properties()
    for node_id, broker in cluster.nodes.items():
        props = broker.server_properties()
        assert props["process.roles"] == "broker" and props["node.id"] == str(node_id)
        assert props["controller.quorum.voters"] == f"{CONTROLLER_ID}@127.0.0.1:19095"
        assert props["listeners"] == f"PLAINTEXT://127.0.0.1:{19091 + node_id}"
        assert broker.cluster_id == controller.cluster_id
        assert broker.heap == "384m"
        _replicated_internally(props)


def test_combined_nodes_form_a_three_voter_quorum(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path / "libs", tmp_path / "data", combined=True, base_port=29092)
    assert cluster.controllers == list(cluster.nodes.values()) == cluster.processes
    for broker in cluster.nodes.values():
        props = broker.server_properties()
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == "1@127.0.0.1:29095,2@127.0.0.1:29096,3@127.0.0.1:29097"
        _replicated_internally(props)


def test_the_cluster_id_is_kept_with_the_storage(tmp_path: Path) -> None:
    first = KafkaCluster(tmp_path / "libs", tmp_path / "data")
    again = KafkaCluster(tmp_path / "libs", tmp_path / "data")
    assert first.nodes[1].cluster_id == again.nodes[2].cluster_id
    assert len(first.nodes[1].cluster_id or "") == 22, "base64url of 16 bytes, as kafka-storage random-uuid"


def test_a_single_broker_keeps_unreplicated_internal_topics(tmp_path: Path) -> None:
    props = KafkaBroker(tmp_path / "libs", tmp_path / "data").server_properties()
    assert props["offsets.topic.replication.factor"] == "1" and props["min.insync.replicas"] == "1"
    assert props["process.roles"] == "broker,controller" and props["unclean.leader.election.enable"] == "false"


def _replicated_internally(props: dict[str, str]) -> None:
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


# -- `facegate broker --nodes` ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "3"], "--sasl, --fetch-only and --nodes need --engine kafka"),
        (["--engine", "kafka", "--nodes", "3", "--sasl"], "--sasl needs --nodes 1"),
    ],
)
def test_broker_options_that_do_not_go_together(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.cli import broker as broker_cli

    monkeypatch.setattr("signal.signal", lambda *_: None)  # the test process keeps its handlers
    monkeypatch.setattr(broker_cli, "fetch_kafka", lambda *_: tmp_path)  # no Maven
    result = CliRunner().invoke(app, ["broker", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_lost_topic_of_the_gateways_state_is_created_again_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Review s47 (disaster recovery): provisioning created a lost `withdrawals`, `enrolled`, audit
    or consent topic again, empty, without a word; a lost `withdrawals` lets a grant replayed from
    before a withdrawal count again. A first deployment creates every topic and is not warned of."""
    admin = FakeAdmin(3)
    with caplog.at_level("WARNING"):
        ensure_topics(admin, _specs(Settings()))
    assert "created again, empty" not in caplog.text
    del admin.topics["facegate.withdrawals"], admin.topics["facegate.rejected"]
    with caplog.at_level("WARNING"):
        ensure_topics(admin, _specs(Settings()))
    assert "facegate.withdrawals" in caplog.text and "created again, empty" in caplog.text
    assert "facegate.rejected" not in caplog.text  # dead letters: lost, but no decision rests on them
