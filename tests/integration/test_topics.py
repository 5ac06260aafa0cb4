"""`facegate topics create|describe` provision the contract on real Kafka, idempotently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.cli import app
from gateway.contract.topics import TopicNames, gateway_topics
from gateway.kafka.provisioning import ProvisioningError, check_topics, describe_topics
from gateway.settings import MIN_AUDIT_RETENTION_MS, Environment, Settings
from tests.support.kafka import Unique, eventually

pytestmark = pytest.mark.kafka


def _env(kafka: KafkaBroker, unique: Unique) -> dict[str, str]:
    # Only the environment tells the command where Kafka is.
    return {
        "FACEGATE_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "FACEGATE_TOPIC_PREFIX": unique.prefix,
        "FACEGATE_PARTITIONS": "3",
        "FACEGATE_VENDORS": '["lumen"]',
    }


def _topics(result_output: str, action: str) -> set[str]:
    return {line.split()[1] for line in result_output.splitlines() if f" {action} " in line}


def test_create_is_idempotent_and_describe_shows_the_contract(kafka: KafkaBroker, unique: Unique) -> None:
    runner = CliRunner()
    env = _env(kafka, unique)
    names = TopicNames(unique.prefix)

    first = runner.invoke(app, ["topics", "create", "-t", "acme", "-t", "beta"], env=env)
    assert first.exit_code == 0, first.output
    expected = {
        s.name for s in gateway_topics(Settings(topic_prefix=unique.prefix, vendors=["lumen"]), ["acme", "beta"])
    }
    assert _topics(first.output, "created") == expected

    second = runner.invoke(app, ["topics", "create", "-t", "acme", "-t", "beta"], env=env)
    assert second.exit_code == 0, second.output
    assert _topics(second.output, "unchanged") == expected and not _topics(second.output, "created")

    admin = KafkaAdminClient(**kafka.admin_config())
    try:
        specs = gateway_topics(Settings(topic_prefix=unique.prefix, partitions=3, vendors=["lumen"]), ["acme", "beta"])
        # New topics' configs reach the broker's metadata view asynchronously.
        eventually(lambda: all(s.config for s in describe_topics(admin, specs)), what="topic configs visible")
        states = {s.name: s for s in describe_topics(admin, specs)}
    finally:
        admin.close()
    assert all(s.exists and s.partitions == 3 for s in states.values())
    assert states[names.cameras("acme")].config["cleanup.policy"] == "compact"
    assert states[names.consent("acme")].config["cleanup.policy"] == "compact"
    assert int(states[names.captures("lumen")].config["retention.ms"]) <= 24 * 3_600_000
    assert int(states[names.enroll("acme")].config["retention.ms"]) <= 24 * 3_600_000
    assert int(states[names.audit].config["retention.ms"]) >= MIN_AUDIT_RETENTION_MS

    described = runner.invoke(app, ["topics", "describe", "-t", "acme", "-t", "beta"], env=env)
    assert described.exit_code == 0, described.output
    assert names.governed("beta") in described.output
    assert "drifted" not in described.output and "missing" not in described.output and "retired" not in described.output

    # A shared input topic of 0.2 left over: named, since a tenant writing there is heard by nobody.
    admin = KafkaAdminClient(**kafka.admin_config())
    try:
        admin.create_topics([NewTopic(names.prefix + "consent", 1, 1)])
    finally:
        admin.close()
    leftover = runner.invoke(app, ["topics", "describe", "-t", "acme", "-t", "beta", "--format", "json"], env=env)
    assert leftover.exit_code == 0 and json.loads(leftover.stdout)["retired"] == [names.prefix + "consent"]


def test_drift_is_repaired_and_co_partitioned_topics_never_grow(kafka: KafkaBroker, unique: Unique) -> None:
    runner = CliRunner()
    env = _env(kafka, unique)
    names = TopicNames(unique.prefix)
    assert runner.invoke(app, ["topics", "create"], env=env).exit_code == 0

    admin = KafkaAdminClient(**kafka.admin_config())
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, names.captures("lumen"), configs={"retention.ms": "999999999"})],
            incremental=True,
            raise_on_unknown=False,
        )
        raw_spec = [
            s
            for s in gateway_topics(Settings(topic_prefix=unique.prefix, vendors=["lumen"]), [])
            if s.name == names.captures("lumen")
        ]
        eventually(
            lambda: describe_topics(admin, raw_spec)[0].config.get("retention.ms") == "999999999",
            what="altered retention visible",
        )
        drifted = runner.invoke(app, ["topics", "describe"], env=env)
        assert "drifted" in drifted.output

        repaired = runner.invoke(app, ["topics", "create"], env=env)
        assert repaired.exit_code == 0, repaired.output
        assert names.captures("lumen") in _topics(repaired.output, "updated")
        assert "999999999 -> 3600000" in repaired.output

        # Growing would split keys over partitions and unpair input and audit partitions: refused.
        grown = runner.invoke(app, ["topics", "create"], env={**env, "FACEGATE_PARTITIONS": "5"})
        assert grown.exit_code == 2 and "can never grow" in grown.output and "docs/operations.md" in grown.output
        assert "ACLs" not in grown.output  # a setting to change, not a right to ask for
        configured = Settings(bootstrap_servers=kafka.bootstrap_servers, topic_prefix=unique.prefix, partitions=3)
        with pytest.raises(ProvisioningError, match="FACEGATE_PARTITIONS=5"):
            check_topics(configured.model_copy(update={"partitions": 5}), [])
        check_topics(configured, [])  # the configured count: runs

        specs = gateway_topics(Settings(topic_prefix=unique.prefix, vendors=["lumen"]), [])
        states = {s.name: s for s in describe_topics(admin, specs)}
    finally:
        admin.close()
    assert states[names.captures("lumen")].config["retention.ms"] == "3600000"
    assert all(s.partitions == 3 for s in states.values()), "nothing grew"


def test_missing_topics_fail_describe(kafka: KafkaBroker, unique: Unique) -> None:
    result = CliRunner().invoke(app, ["topics", "describe"], env=_env(kafka, unique))
    assert result.exit_code == 1
    assert "missing" in result.output


def test_a_worker_started_without_provisioning_needs_every_topic_topics_create_makes(
    kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    # The chart's Job runs `topics create`, then its workers `run --no-provision`: the Job once left
    # out the gateway's internal topics, and the worker failed late with a traceback.
    env = {**_env(kafka, unique), "FACEGATE_TENANTS": '["acme"]', "FACEGATE_CACHE_DIR": str(tmp_path)}
    settings = Settings(topic_prefix=unique.prefix, bootstrap_servers=kafka.bootstrap_servers, partitions=3,
                        tenants=["acme"], vendors=["lumen"])  # fmt: skip
    names = TopicNames(unique.prefix)
    # In a process of its own: `run` configures this process's logging for the worker.
    refused = subprocess.run([sys.executable, "-m", "gateway", "run", "--no-provision"], env={**os.environ, **env},
                             capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "missing" in said and "facegate topics create" in said
    assert {names.enrolled, names.withdrawals} <= set(check_topics(settings, ["acme"]))
    assert CliRunner().invoke(app, ["topics", "create"], env=env).exit_code == 0
    assert check_topics(settings, ["acme"]) == []


def test_a_production_worker_refuses_inputs_the_broker_does_not_stamp(kafka: KafkaBroker, unique: Unique) -> None:
    # On a topic left on producers' timestamps a vendor or tenant picks the "broker time" the
    # gateway bounds claimed times with, retention counts from and a consent's deletion is dated by.
    env = {**_env(kafka, unique), "FACEGATE_TENANTS": '["acme"]'}
    assert CliRunner().invoke(app, ["topics", "create"], env=env).exit_code == 0
    names = TopicNames(unique.prefix)
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, topic_prefix=unique.prefix, partitions=3,
                        tenants=["acme"], vendors=["lumen"], env=Environment.PRODUCTION)  # fmt: skip
    eventually(lambda: check_topics(settings, ["acme"]) == [], what="the topics created, in the metadata")
    admin = KafkaAdminClient(**kafka.admin_config())
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, names.consent("acme"),
                            configs={"message.timestamp.type": "CreateTime"})],
            incremental=True, raise_on_unknown=False,
        )  # fmt: skip
        spec = [s for s in gateway_topics(settings, ["acme"]) if s.name == names.consent("acme")]
        eventually(
            lambda: describe_topics(admin, spec)[0].config.get("message.timestamp.type") == "CreateTime",
            what="the consent topic on producers' timestamps",
        )
    finally:
        admin.close()
    with pytest.raises(ProvisioningError, match=f"not stamped by the broker: {names.consent('acme')}"):
        check_topics(settings, ["acme"])
    check_topics(settings.model_copy(update={"env": Environment.DEVELOPMENT}), ["acme"])  # Tansu stamps nothing
    assert CliRunner().invoke(app, ["topics", "create"], env=env).exit_code == 0  # sets it again
    eventually(lambda: check_topics(settings, ["acme"]) == [], what="the consent topic stamped again")
