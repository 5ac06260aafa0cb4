"""TLS to Apache Kafka with a CA made for the test: the worker, the SDK and the admin client
verify the broker's certificate with FACEGATE_SSL_CAFILE; a client that does not trust the CA is
refused."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from gateway.brokers.apache_kafka import KafkaBroker, fetch_kafka
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.records import decided_a_capture
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import read_topic
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import VENDORS, Traffic, build_world
from gateway.sdk.simulator import publish_world, send_capture
from gateway.settings import SecurityProtocol, Settings
from gateway.shell.local import LocalWorker
from tests.support.deployment import CODEC
from tests.support.kafka import Unique
from tests.support.tls import TlsFiles, make_tls

pytestmark = pytest.mark.kafka
TENANTS = ["acme", "beta"]


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaBroker, TlsFiles]]:
    tls = make_tls(tmp_path_factory.mktemp("tls-ca"))
    defaults = Settings()
    broker = KafkaBroker(
        fetch_kafka(defaults.cache_dir, defaults.kafka_version), tmp_path_factory.mktemp("kafka-tls"),
        tls_keystore=tls.keystore_p12, tls_password=tls.password, tls_truststore=tls.ca_pem,
    )  # fmt: skip
    broker.start()
    try:
        yield broker, tls
    finally:
        broker.stop()


def test_worker_and_clients_speak_tls_verified_by_the_ca(
    tls_broker: tuple[KafkaBroker, TlsFiles], unique: Unique, tmp_path: Path
) -> None:
    broker, tls = tls_broker
    settings = Settings(
        bootstrap_servers=broker.bootstrap_servers, topic_prefix=unique.prefix, partitions=2, tenants=TENANTS, vendors=list(VENDORS),
        security_protocol=SecurityProtocol.SSL, ssl_cafile=tls.ca_pem,
    )  # fmt: skip
    ensure_gateway_topics(settings, TENANTS)  # the admin client over TLS
    worker = LocalWorker(tmp_path / "worker.log", {
        "FACEGATE_BOOTSTRAP_SERVERS": broker.bootstrap_servers, "FACEGATE_TOPIC_PREFIX": unique.prefix,
        "FACEGATE_APP_ID": unique.group("gw"), "FACEGATE_PARTITIONS": "2", "FACEGATE_TENANTS": json.dumps(TENANTS), "FACEGATE_VENDORS": json.dumps(VENDORS),
        "FACEGATE_CACHE_DIR": str(tmp_path / "cache"), "FACEGATE_KEYRING": Keyring.generate(TENANTS).export(),
        "FACEGATE_SECURITY_PROTOCOL": "SSL", "FACEGATE_SSL_CAFILE": str(tls.ca_pem),
    })  # fmt: skip
    worker.start()
    try:
        world = build_world(seed=41, tenants=tuple(TENANTS), subjects_per_tenant=5)
        items = Traffic(world, seed=42).take(40)

        async def traffic() -> None:
            async with FaceGateProducer(settings) as producer:
                await publish_world(producer, world)
                await asyncio.to_thread(worker.wait_for_enrolled, len(world.enrollments))
                for item in items:
                    await send_capture(producer, item)

        asyncio.run(traffic())

        def decided(records: list) -> int:  # type: ignore[type-arg]
            decoded = (CODEC.decode_any(r.value or b"") for r in records)  # the world's consents are audited too
            return len({a.event_id for a in decoded if isinstance(a, AuditRecord) and decided_a_capture(a.event_id)})

        audit = asyncio.run(
            read_topic(aiokafka_config(settings), TopicNames(unique.prefix).audit, lambda rs: decided(rs) >= 40, 120)
        )
        assert decided(audit) == 40
    finally:
        assert worker.stop() == 0


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_broker: tuple[KafkaBroker, TlsFiles]) -> None:
    broker, _ = tls_broker

    async def connect() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap_servers,
            security_protocol="SSL",
            ssl_context=ssl.create_default_context(),
        )
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect())
