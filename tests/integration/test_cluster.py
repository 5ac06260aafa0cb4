"""A three-broker Apache Kafka cluster on loopback (issue 20): the contract topics provisioned with
their durability, and the broker that leads an audit partition killed mid-stream without losing an
acknowledged record.

The cluster is this module's own (three brokers and a dedicated KRaft controller, started by
gateway.brokers.apache_kafka as `facegate broker --engine kafka --nodes 3` does); it is left whole
after each test. If it cannot start, the tests error: nothing here skips.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaCluster, fetch_kafka
from gateway.brokers.process import BrokerError
from gateway.cli import app
from gateway.contract.topics import DURABLE_KINDS, TopicNames, contract_topics
from gateway.kafka.provisioning import describe_topics, ensure_gateway_topics
from gateway.settings import Settings
from tests.support.kafka import Unique, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

TENANTS = ["acme"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    defaults = Settings()
    try:
        libs = fetch_kafka(defaults.cache_dir, defaults.kafka_version)
        cluster = KafkaCluster(libs, tmp_path_factory.mktemp("cluster"), brokers=3)
        cluster.start(timeout=240)
    except BrokerError as exc:
        pytest.fail(f"the three-broker Kafka cluster did not start: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def _settings(cluster: KafkaCluster, unique: Unique) -> Settings:
    return Settings(bootstrap_servers=cluster.bootstrap_servers, topic_prefix=unique.prefix, tenants=TENANTS)


def test_the_contract_topics_get_their_durability(cluster: KafkaCluster, unique: Unique) -> None:
    env = {"FACEGATE_BOOTSTRAP_SERVERS": cluster.bootstrap_servers, "FACEGATE_TOPIC_PREFIX": unique.prefix}
    runner = CliRunner()
    created = runner.invoke(app, ["topics", "create", "-t", "acme"], env=env)
    assert created.exit_code == 0, created.output
    assert "capped" not in created.output, "three brokers hold every configured replica"

    settings = _settings(cluster, unique)
    specs = contract_topics(settings, TENANTS)  # what `topics create` provisions (the worker adds enrolled)
    admin = KafkaAdminClient(**cluster.admin_config())
    try:
        eventually(lambda: all(s.config for s in describe_topics(admin, specs)), what="topic configs visible")
        states = {s.name: s for s in describe_topics(admin, specs)}
        for spec in specs:
            state = states[spec.name]
            durable = spec.kind in DURABLE_KINDS
            assert state.replication_factor == (3 if durable else 1), spec.name
            assert state.config["min.insync.replicas"] == ("2" if durable else "1"), spec.name
            assert state.config["unclean.leader.election.enable"] == "false", spec.name

        described = runner.invoke(app, ["topics", "describe", "-t", "acme"], env=env)
        assert described.exit_code == 0, described.output
        assert "drifted" not in described.output, described.output

        # Someone lowers the audit topic's min.insync.replicas: describe calls it drift, create repairs it.
        audit = TopicNames(unique.prefix).audit
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, audit, configs={"min.insync.replicas": "1"})],
            incremental=True,
            raise_on_unknown=False,
        )
        audit_spec = [s for s in specs if s.name == audit]
        eventually(
            lambda: describe_topics(admin, audit_spec)[0].config.get("min.insync.replicas") == "1",
            what="lowered min.insync.replicas visible",
        )
        drifted = runner.invoke(app, ["topics", "describe", "-t", "acme"], env=env)
        assert f"drifted {audit}: min.insync.replicas: 1, configured 2" in drifted.output, drifted.output
        repaired = runner.invoke(app, ["topics", "create", "-t", "acme"], env=env)
        assert "min.insync.replicas: 1 -> 2" in repaired.output, repaired.output

        # A tenant topic created by hand with one replica: drift, and create says what it takes.
        # (beta's erasure topic does not exist yet: describe exits 1 and says so on stderr.)
        beta = TopicNames(unique.prefix).governed("beta")
        admin.create_topics([NewTopic(beta, 4, 1)])
        with_beta = ["topics", "describe", "-t", "acme", "-t", "beta", "--format", "json"]
        eventually(
            lambda: (
                "replication factor: 1, configured 3" in _drift(runner.invoke(app, with_beta, env=env).stdout, beta)
            ),
            what="the one-replica topic reported",
        )
        warned = runner.invoke(app, ["topics", "create", "-t", "acme", "-t", "beta"], env=env).output
        assert "raising it needs a partition reassignment" in warned, warned
    finally:
        admin.close()


def _drift(output: str, topic: str) -> str:
    """What `topics describe --format json` reports as drift for one topic ('' while it is not listed)."""
    try:
        rows = {row["topic"]: row for row in json.loads(output)["topics"]}
    except (ValueError, KeyError):
        return ""
    return "; ".join(rows.get(topic, {}).get("drift", []))


def test_killing_the_leader_of_an_audit_partition_loses_no_acknowledged_record(
    cluster: KafkaCluster, unique: Unique
) -> None:
    settings = _settings(cluster, unique)
    ensure_gateway_topics(settings, TENANTS)
    audit = TopicNames(unique.prefix).audit
    leader = cluster.wait_for_leader(audit, 0)
    assert set(cluster.partitions(audit)[0].isr) == {1, 2, 3}

    acknowledged, failed, stalled = asyncio.run(
        _produce_through_a_kill(cluster, audit, leader, total=600, kill_after=200)
    )
    successor = cluster.wait_for_leader(audit, 0, not_on=leader)
    assert successor != leader
    assert len(acknowledged) == 600, f"{failed} sends failed outright"

    stored = asyncio.run(_read_partition(cluster.bootstrap_servers, audit, 0, unique.group()))
    values = [value for _, value in stored]
    assert len(values) == len(set(values)), "idempotence: no record written twice by a retry"
    by_offset = dict(stored)
    lost = {value for value, offset in acknowledged.items() if by_offset.get(offset) != value}
    assert not lost, f"{len(lost)} acknowledged records lost or moved"

    started = time.monotonic()
    cluster.start_node(leader, timeout=180)
    cluster.wait_in_sync(leader, [audit], timeout=180)
    rejoined = time.monotonic() - started
    assert set(cluster.partitions(audit)[0].isr) == {1, 2, 3}
    print(
        f"broker {leader} killed: writes stalled {stalled:.1f}s until {successor} led; back in the ISR {rejoined:.1f}s"
    )

    # The group's offsets went to __consumer_offsets, replicated like every durable topic.
    assert {len(p.replicas) for p in cluster.partitions("__consumer_offsets").values()} == {3}


async def _produce_through_a_kill(
    cluster: KafkaCluster, topic: str, leader: int, total: int, kill_after: int
) -> tuple[dict[bytes, int], int, float]:
    """Send `total` records to partition 0 with acks=all and idempotence, one at a time, killing
    the partition's leader after `kill_after`. Returns value -> offset of every acknowledged record,
    how many sends failed, and how long the first send after the kill took. A failed send is not
    sent again: the producer's own retries (same producer id and sequence numbers) carry the
    records across the change of leader."""
    producer = AIOKafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=30000,
        retry_backoff_ms=200,
    )
    acknowledged: dict[bytes, int] = {}
    failed = 0
    stalled = 0.0
    await producer.start()
    try:
        async with asyncio.timeout(240):
            for i in range(total):
                if i == kill_after:
                    await asyncio.to_thread(cluster.kill, leader)
                    killed = time.monotonic()  # the first send after it waits for a new leader
                value = f"decision-{i:05d}".encode()
                try:
                    metadata = await producer.send_and_wait(topic, value, key=b"k", partition=0)
                except KafkaError:
                    failed += 1
                    continue
                acknowledged[value] = metadata.offset
                if i == kill_after:
                    stalled = time.monotonic() - killed
    finally:
        await producer.stop()
    return acknowledged, failed, stalled


async def _read_partition(bootstrap: str, topic: str, partition: int, group: str) -> list[tuple[int, bytes]]:
    """Every (offset, value) of one partition up to its end, then the position committed for `group`."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    stored: list[tuple[int, bytes]] = []
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        async with asyncio.timeout(60):
            while await consumer.position(tp) < end:
                for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                    stored += [(r.offset, r.value) for r in records if r.value is not None]
            await consumer.commit({tp: end})
    finally:
        await consumer.stop()
    return stored
