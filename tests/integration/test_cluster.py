"""A three-broker Apache Kafka cluster on loopback (issue 20): the contract topics provisioned with
their durability; the broker that leads an audit partition killed mid-stream without losing an
acknowledged record; and a real worker through a broker killed mid-stream, two brokers down (it
fails closed and resumes by itself) and a rolling restart of all three.

The worker tests keep the streams modest (20,000 captures for the broker lost, fewer for the
others) so that the module, cluster start included, stays within a few minutes on two cores.

The cluster is this module's own (three brokers and a dedicated KRaft controller, started by
gateway.brokers.apache_kafka as `facegate broker --engine kafka --nodes 3` does); it is left whole
after each test. If it cannot start, the tests error: nothing here skips.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaCluster, fetch_kafka
from gateway.brokers.process import BrokerError
from gateway.cli import app
from gateway.contract.models import AuditRecord
from gateway.contract.topics import DURABLE_KINDS, TopicNames, contract_topics, gateway_topics
from gateway.kafka.provisioning import describe_topics, ensure_gateway_topics
from gateway.sdk.scenario import Capture, Traffic
from gateway.settings import Settings
from gateway.shell.local import LocalWorker
from tests.support.deployment import CODEC, Deployment
from tests.support.deployment import TENANTS as DEPLOYED_TENANTS
from tests.support.kafka import Unique, eventually
from tests.support.losses import assert_nothing_lost, decided

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
    specs = gateway_topics(settings, TENANTS)  # what `topics create` provisions
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
        # Each broker applies the change when its copy of the metadata log reaches it, and the CLI
        # may ask another broker than the one that answered above: wait for what the CLI is told.
        drift = f"drifted {audit}: min.insync.replicas: 1, configured 2"
        eventually(
            lambda: drift in runner.invoke(app, ["topics", "describe", "-t", "acme"], env=env).output,
            what="the lowered min.insync.replicas reported as drift",
        )
        eventually(
            lambda: (
                "min.insync.replicas: 1 -> 2" in runner.invoke(app, ["topics", "create", "-t", "acme"], env=env).output
            ),
            what="create repairs the drift it is told of",
        )
        as_json = ["topics", "describe", "-t", "acme", "--format", "json"]
        eventually(lambda: _without_drift(runner.invoke(app, as_json, env=env).stdout, audit), what="no drift left")

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


def _row(output: str, topic: str) -> dict[str, Any] | None:
    """One topic's row of `topics describe --format json` (None while it is not listed)."""
    try:
        rows = {row["topic"]: row for row in json.loads(output)["topics"]}
    except (ValueError, KeyError):
        return None
    row: dict[str, Any] | None = rows.get(topic)
    return row


def _without_drift(output: str, topic: str) -> bool:
    """Whether `topics describe --format json` lists `topic` and reports no drift for it."""
    row = _row(output, topic)
    return row is not None and not row.get("drift")


def _drift(output: str, topic: str) -> str:
    """What `topics describe --format json` reports as drift for one topic ('' while it is not listed)."""
    return "; ".join((_row(output, topic) or {}).get("drift", []))


def test_killing_the_leader_of_an_audit_partition_loses_no_acknowledged_record(
    cluster: KafkaCluster, unique: Unique
) -> None:
    settings = _settings(cluster, unique)
    ensure_gateway_topics(settings, TENANTS)
    audit = TopicNames(unique.prefix).audit
    leader = cluster.wait_for_leader(audit, 0)
    # A new topic's metadata reaches each broker in turn: until then describing it fails.
    cluster.wait_for(lambda: _fully_in_sync(cluster, audit), 60, f"{audit} 0 in sync on all three brokers")

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


# -- a real worker on the cluster ------------------------------------------------------------------
STREAM = 20_000  # captures through a broker lost mid-stream
STALL_MS = 3_000  # FACEGATE_PRODUCE_STALL_MS for these workers: /readyz turns 503 after 3 s stuck


def _deployment(cluster: KafkaCluster, unique: Unique, workdir: Path, **env: str) -> Deployment:
    """Every topic with three replicas and min.insync.replicas 2 (inputs too), as the chart runs it."""
    env = {"FACEGATE_PRODUCE_STALL_MS": str(STALL_MS), **env}
    return Deployment(cluster, unique, workdir, partitions=4, replication_factor=3, extra_env=env)


def _topics(d: Deployment) -> list[str]:
    """The deployment's topics and the group offsets: what a returning broker must be in sync on."""
    names = [s.name for s in contract_topics(d.settings, DEPLOYED_TENANTS)]
    return [*names, d.names.enrolled, d.names.withdrawals, "__consumer_offsets"]


def _restore(cluster: KafkaCluster, d: Deployment, *nodes: int) -> None:
    """Start stopped brokers again and wait until they are back in every ISR: the module's cluster
    is whole for the next test."""
    for node in nodes:
        if not cluster.node(node).running():
            cluster.start_node(node, timeout=180)
    for node in nodes:
        cluster.wait_in_sync(node, _topics(d), timeout=180)


def _sending(d: Deployment, items: list[Capture], rate: float | None = None) -> Callable[[], None]:
    """Send in a thread (at once, or paced); returns a join that re-raises the sender's error."""
    errors: list[BaseException] = []

    def send() -> None:
        try:
            asyncio.run(d.send(items, rate=rate))
        except BaseException as exc:  # re-raised by join: a failed send must fail the test
            errors.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(timeout=300)
        assert not thread.is_alive(), "the sender did not finish within 300 s"
        if errors:
            raise errors[0]

    return join


def _never_crashed(worker: LocalWorker) -> None:
    assert worker.running(), f"the worker exited:\n{worker.log_tail()}"
    assert "exiting without committing" not in worker.process.log_text(), worker.log_tail()


def test_a_broker_lost_mid_stream_loses_nothing_and_the_worker_rides_it_out(
    cluster: KafkaCluster, unique: Unique, tmp_path: Path
) -> None:
    d = _deployment(cluster, unique, tmp_path)
    worker = d.start_worker()
    try:
        asyncio.run(d.publish_world(worker))
        items = Traffic(d.world, seed=60).take(STREAM)
        leader = cluster.wait_for_leader(d.names.audit, 0)
        join = _sending(d, items)
        worker.wait_until(lambda: decided(worker) >= STREAM // 5, 300, f"{STREAM // 5} decisions")
        at_kill = decided(worker)
        cluster.kill(leader)  # kill -9: no controlled shutdown, leadership moves after fencing
        successor = cluster.wait_for_leader(d.names.audit, 0, not_on=leader, timeout=120)
        join()
        assert_nothing_lost(d, items, exactly_once=True)
        _never_crashed(worker)
        print(f"broker {leader} (audit-0 leader) killed at {at_kill:.0f} of {STREAM} decisions; {successor} took over")
        assert worker.stop() == 0
    finally:
        _restore(cluster, d, *cluster.nodes)


def test_two_brokers_down_the_worker_fails_closed_and_resumes_by_itself(
    cluster: KafkaCluster, unique: Unique, tmp_path: Path
) -> None:
    # The worker is frozen while the test sends (the production default's 30 s session keeps it in
    # its group meanwhile) and while it kills: the outage comes within a poll (0.2 s) of its
    # 1,000th decision, however fast it decides, and far from the stream's end.
    d = _deployment(cluster, unique, tmp_path, FACEGATE_SESSION_TIMEOUT_MS="30000")
    worker = d.start_worker()
    try:
        asyncio.run(d.publish_world(worker))
        leader = cluster.leader(d.names.audit, 0)
        down = [leader, next(n for n in cluster.nodes if n != leader)]
        items = Traffic(d.world, seed=61).take(STREAM)
        with worker.frozen():  # all in before the outage: the inputs are not writable during it
            asyncio.run(d.send(items))
        worker.wait_until(lambda: decided(worker) >= 1_000, 300, "1,000 decisions")
        killing = time.monotonic()
        with worker.frozen():
            for node in down:
                cluster.kill(node)
        killing = time.monotonic() - killing
        # Frozen time runs on the stall clock: within the bound, /readyz cannot turn 503 before the
        # worker has read the acknowledgements that reached it before the kills.
        assert killing < STALL_MS / 1000 / 2, f"the kills took {killing:.1f}s"
        # One in-sync replica left, min.insync.replicas 2: every write waits (the producer retries
        # NOT_ENOUGH_REPLICAS), the worker decides nothing more and says so on /readyz.
        worker.wait_until(lambda: worker.get("/readyz")[0] == 503, 120, "/readyz not ready while stuck")
        frozen = decided(worker)
        worker.wait_until(
            lambda: worker.metric("facegate_produce_stalled_seconds") >= 3 * STALL_MS / 1000,
            120,
            "a produce call stuck three times the bound",
        )
        assert decided(worker) == frozen, "a decision was counted that Kafka could not hold durably"
        assert frozen < len(items), "the outage came mid-stream"
        stalled = worker.metric("facegate_produce_stalled_seconds")
        _never_crashed(worker)

        started = time.monotonic()
        cluster.start_node(down[1], timeout=180)  # one broker back: two in-sync replicas again
        worker.wait_until(lambda: worker.get("/readyz")[0] == 200, 180, "ready again once a broker returned")
        resumed = time.monotonic() - started
        assert_nothing_lost(d, items, exactly_once=True)
        _never_crashed(worker)
        assert worker.metric("facegate_produce_stalled_seconds") == 0
        print(
            f"brokers {down} killed at {frozen:.0f} of {len(items)} decisions: not ready, stuck {stalled:.0f}s "
            f"with no decision; broker {down[1]} restarted and the worker ready again after {resumed:.1f}s"
        )
        assert worker.stop() == 0
    finally:
        _restore(cluster, d, *cluster.nodes)


def test_a_rolling_restart_of_every_broker_loses_nothing(cluster: KafkaCluster, unique: Unique, tmp_path: Path) -> None:
    d = _deployment(cluster, unique, tmp_path)
    worker = d.start_worker()
    try:
        asyncio.run(d.publish_world(worker))
        items = Traffic(d.world, seed=62).take(8_000)
        join = _sending(d, items, rate=100)  # 80 s of stream, well below what the worker decides
        worker.wait_until(lambda: decided(worker) >= 1_000, 300, "1,000 decisions")
        rolled_from = time.time()
        for node in sorted(cluster.nodes):  # one at a time, each back in sync before the next
            assert cluster.stop_node(node) is not None  # a controlled shutdown: leadership moves first
            _restore(cluster, d, node)
        rolled_to = time.time()
        join()
        # The SDK's producer is idempotent: a send retried across a change of leader is not written
        # twice (without it a few were, and a malformed one was then dead-lettered twice).
        raw = sum(len(d.read(topic, timeout=120)) for topic in d.capture_topics)
        assert raw == len(items), f"{raw - len(items)} inputs written twice by the producer's retries"
        assert_nothing_lost(d, items, exactly_once=True)
        _never_crashed(worker)
        during, outside = _latencies(d, rolled_from, rolled_to)
        print(
            f"rolling restart of brokers {sorted(cluster.nodes)} in {rolled_to - rolled_from:.0f}s: decision latency "
            f"(raw append to audit record) during the roll p50 {_pct(during, 50):.3f}s p99 {_pct(during, 99):.3f}s "
            f"max {max(during, default=0):.3f}s over {len(during)} captures; outside it p99 {_pct(outside, 99):.3f}s"
        )
        assert worker.stop() == 0
    finally:
        _restore(cluster, d, *cluster.nodes)


def _latencies(d: Deployment, since: float, until: float) -> tuple[list[float], list[float]]:
    """Seconds from each capture's append to the raw topic (the broker's LogAppendTime) to its audit
    record's timestamp, for captures appended during [since, until] and the others."""
    appended: dict[str, float] = {}
    for r in [r for topic in d.capture_topics for r in d.read(topic, timeout=120)]:
        event_id = getattr(_decoded(r.value), "event_id", None)
        if event_id is not None:
            appended.setdefault(event_id, r.timestamp / 1000)
    during: list[float] = []
    outside: list[float] = []
    for r in d.read(d.names.audit, timeout=120):
        audit = _decoded(r.value)
        if isinstance(audit, AuditRecord) and audit.event_id in appended:
            at = appended[audit.event_id]
            (during if since <= at <= until else outside).append(r.timestamp / 1000 - at)
    return during, outside


def _decoded(value: bytes | None) -> object:
    try:
        return CODEC.decode_any(value or b"")
    except Exception:  # the traffic's malformed captures
        return None


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def _fully_in_sync(cluster: KafkaCluster, topic: str) -> bool:
    try:
        return set(cluster.partitions(topic)[0].isr) == {1, 2, 3}
    except BrokerError:  # not every broker has the topic's metadata yet
        return False
