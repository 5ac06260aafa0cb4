"""Producing as a given SCRAM principal on the session's SASL broker."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from gateway.brokers.apache_kafka import KafkaBroker


def scram(user: str) -> dict[str, str]:
    """The client settings of a SCRAM user whose password is `<user>-pw` (as the tests create them)."""
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user, "sasl_plain_password": f"{user}-pw"}  # fmt: skip


async def produce_as_admin(broker: KafkaBroker, topic: str) -> None:
    await produce_with(broker, topic, {**scram("admin"), "sasl_plain_password": "admin-secret"})


async def produce_with(broker: KafkaBroker, topic: str, security: dict[str, str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, **security)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"seed", key=b"k")
    finally:
        await producer.stop()
