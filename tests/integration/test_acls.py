"""The four roles' ACLs on Apache Kafka with SCRAM and the StandardAuthorizer, applied by
`facegate acl apply`: each principal can do its part and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from kafka.admin import KafkaAdminClient, NewTopic, ScramMechanism, UserScramCredentialUpsertion
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.cli import app
from gateway.contract.topics import TopicNames
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.settings import SecurityProtocol, Settings
from tests.support.acls import produce_as_admin, scram
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka
USERS = ("gateway", "vendor", "other-vendor", "acme", "beta", "regulator")
ROLES = """
gateway: User:gateway
vendors: {lumen: User:vendor, optix: User:other-vendor}
tenants: {acme: User:acme, beta: User:beta}
regulators: [User:regulator]
"""


async def produce(broker: KafkaBroker, user: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=5000, **scram(user))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"x", key=b"k")
    finally:
        await producer.stop()


async def consume(broker: KafkaBroker, user: str, topic: str) -> None:
    """Read the topic's first record (the test puts one there)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=None, **scram(user))
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        # aiokafka logs a topic without Describe rights and waits; say it at once, as an error.
        client = consumer._client
        client.add_topic(topic)
        await client.force_metadata_update()
        if topic in client.cluster.unauthorized_topics:
            raise TopicAuthorizationFailedError(topic)
        await consumer.seek_to_beginning()
        async with asyncio.timeout(10):
            while not (await consumer.getmany(timeout_ms=500)):
                pass
    finally:
        await consumer.stop()


def outcome(action: Callable[[], Coroutine[Any, Any, None]]) -> str:
    try:
        asyncio.run(action())
        return "ok"
    except KafkaError as exc:
        return type(exc).__name__
    except TimeoutError:
        return "timeout"


def test_acl_apply_gives_each_role_its_part_and_nothing_else(
    kafka_sasl: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    admin_env = {
        "FACEGATE_BOOTSTRAP_SERVERS": kafka_sasl.bootstrap_servers, "FACEGATE_TOPIC_PREFIX": unique.prefix,
        "FACEGATE_APP_ID": unique.group("gw"), "FACEGATE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "FACEGATE_SASL_USERNAME": "admin", "FACEGATE_SASL_PASSWORD": "admin-secret",
        "FACEGATE_SASL_MECHANISM": "SCRAM-SHA-512", "FACEGATE_PARTITIONS": "1",
    }  # fmt: skip
    settings = Settings(
        bootstrap_servers=kafka_sasl.bootstrap_servers, topic_prefix=unique.prefix, partitions=1,
        security_protocol=SecurityProtocol.SASL_PLAINTEXT, sasl_username="admin", sasl_password="admin-secret",
        vendors=["lumen", "optix"],
    )  # fmt: skip
    ensure_gateway_topics(settings, ["acme", "beta"])
    admin = KafkaAdminClient(**kafka_sasl.admin_config())
    try:
        # The shared inputs of 0.2, left over: nobody but the gateway may write them any more.
        admin.create_topics([NewTopic(name, 1, 1) for name in TopicNames(unique.prefix).retired])
        admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(u, ScramMechanism.SCRAM_SHA_512, f"{u}-pw") for u in USERS]
        )
    finally:
        admin.close()
    names = TopicNames(unique.prefix)
    for topic in (names.governed("acme"), names.governed("beta"), names.audit):
        asyncio.run(produce_as_admin(kafka_sasl, topic))

    roles = tmp_path / "roles.yaml"
    roles.write_text(ROLES)
    runner = CliRunner()
    first = runner.invoke(app, ["acl", "apply", "--roles", str(roles)], env=admin_env)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["acl", "apply", "--roles", str(roles)], env=admin_env)
    assert again.exit_code == 0 and again.output.startswith("0 created"), again.output

    # What each role may do works (waiting for the ACLs to reach the authorizer)...
    Action = Callable[[], Coroutine[Any, Any, None]]
    allowed: dict[str, Action] = {
        "vendor writes raw": lambda: produce(kafka_sasl, "vendor", names.captures("lumen")),
        "acme reads its governed": lambda: consume(kafka_sasl, "acme", names.governed("acme")),
        "other vendor writes its captures": lambda: produce(kafka_sasl, "other-vendor", names.captures("optix")),
        **{f"acme writes its {t}": partial(produce, kafka_sasl, "acme", t) for t in names.tenant_inputs("acme")},
        "regulator reads audit": lambda: consume(kafka_sasl, "regulator", names.audit),
        "gateway writes audit": lambda: produce(kafka_sasl, "gateway", names.audit),
    }
    for what, action in allowed.items():
        assert wait_for("ok", action) == "ok", what
    # ...and nothing else does.
    denied: dict[str, Action] = {
        "vendor reads governed": lambda: consume(kafka_sasl, "vendor", names.governed("acme")),
        "vendor reads raw": lambda: consume(kafka_sasl, "vendor", names.captures("lumen")),
        "acme reads beta's governed": lambda: consume(kafka_sasl, "acme", names.governed("beta")),
        "acme reads the audit": lambda: consume(kafka_sasl, "acme", names.audit),
        "acme writes its governed topic": lambda: produce(kafka_sasl, "acme", names.governed("acme")),
        "regulator writes audit": lambda: produce(kafka_sasl, "regulator", names.audit),
        "regulator reads governed": lambda: consume(kafka_sasl, "regulator", names.governed("acme")),
        # The topic is the writer's identity: no tenant or vendor writes another's, nor a shared one.
        "vendor writes another vendor's captures": lambda: produce(kafka_sasl, "vendor", names.captures("optix")),
        "vendor registers a camera": lambda: produce(kafka_sasl, "vendor", names.cameras("acme")),
        "vendor writes the retired shared raw topic": lambda: produce(kafka_sasl, "vendor", names.prefix + "faces.raw"),
        **{
            f"acme writes beta's {topic}": partial(produce, kafka_sasl, "acme", topic)
            for topic in names.tenant_inputs("beta")
        },
        **{f"acme writes the retired {topic}": partial(produce, kafka_sasl, "acme", topic) for topic in names.retired},
        "acme writes captures": lambda: produce(kafka_sasl, "acme", names.captures("lumen")),
    }
    for what, action in denied.items():
        assert outcome(action) == "TopicAuthorizationFailedError", what


def wait_for(expected: str, action: Callable[[], Coroutine[Any, Any, None]], timeout: float = 30) -> str:
    """Repeat until the outcome is `expected` or the deadline passes (ACLs reach brokers asynchronously)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = outcome(action)
        if result == expected or time.monotonic() > deadline:
            return result
        time.sleep(0.2)  # poll interval while the ACLs propagate
