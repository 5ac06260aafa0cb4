"""The test broker is a real Apache Kafka 4.x: data flows, and SCRAM and ACLs are enforced."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    KafkaAdminClient,
    NewTopic,
    ResourcePattern,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from gateway.brokers.apache_kafka import KafkaBroker
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka


async def _produce(bootstrap: str, topic: str, values: list[bytes], **security: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10000, **security)
    try:
        await producer.start()
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int, group: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    got += [r.value for r in records if r.value is not None]
    finally:
        await consumer.stop()
    return got


def test_the_broker_is_apache_kafka_4(kafka: KafkaBroker) -> None:
    jars = [p.name for p in kafka.libs.glob("kafka_2.13-*.jar")]
    assert len(jars) == 1 and jars[0].startswith("kafka_2.13-4.")
    admin = KafkaAdminClient(**kafka.admin_config())
    try:
        assert admin.describe_cluster()["brokers"][0]["host"] == "127.0.0.1"
    finally:
        admin.close()


def test_records_round_trip_in_order(kafka: KafkaBroker, unique: Unique) -> None:
    topic = unique.topic("round-trip")
    admin = KafkaAdminClient(**kafka.admin_config())
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    values = [f"record-{i}".encode() for i in range(50)]
    asyncio.run(_produce(kafka.bootstrap_servers, topic, values))
    assert asyncio.run(_consume(kafka.bootstrap_servers, topic, 50, unique.group())) == values


def _scram(user: str, password: str) -> dict[str, str]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


def test_scram_and_acls_are_enforced(kafka_sasl: KafkaBroker, unique: Unique) -> None:
    topic = unique.topic("raw")
    admin = KafkaAdminClient(**kafka_sasl.admin_config())
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
        result = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion("vendor", ScramMechanism.SCRAM_SHA_512, "vendor-pw")]
        )
        assert result == {"vendor": None}
        vendor = _scram("vendor", "vendor-pw")

        # Authenticated but not authorised: the StandardAuthorizer denies by default.
        # (The new credential reaches the broker through the metadata log: wait for it.)
        assert asyncio.run(_produce_until(kafka_sasl, topic, vendor, KafkaConnectionError)) == (
            "TopicAuthorizationFailedError"
        )
        admin.create_acls(
            [ACL("User:vendor", "*", op, ACLPermissionType.ALLOW, ResourcePattern(ResourceType.TOPIC, topic))
             for op in (ACLOperation.WRITE, ACLOperation.DESCRIBE)]
        )  # fmt: skip
    finally:
        admin.close()
    # The ACL also propagates asynchronously; once applied the same producer succeeds.
    assert asyncio.run(_produce_until(kafka_sasl, topic, vendor, TopicAuthorizationFailedError)) == "ok"


async def _produce_until(broker: KafkaBroker, topic: str, security: dict[str, str], retry_on: type[Exception]) -> str:
    """Produce until the outcome is something other than `retry_on`; returns that outcome's name."""
    async with asyncio.timeout(30):
        while True:
            try:
                await _produce(broker.bootstrap_servers, topic, [b"x"], **security)
                return "ok"
            except retry_on:
                await asyncio.sleep(0.2)  # poll interval while metadata propagates
            except KafkaError as exc:
                return type(exc).__name__


def test_wrong_password_is_refused(kafka_sasl: KafkaBroker, unique: Unique) -> None:
    with pytest.raises(KafkaError):
        asyncio.run(_produce(kafka_sasl.bootstrap_servers, unique.topic("x"), [b"x"], **_scram("admin", "wrong")))
