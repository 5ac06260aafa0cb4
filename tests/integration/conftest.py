"""One Apache Kafka broker for the whole session, unique topics and groups per test.

The broker is assembled by Maven and started by gateway.brokers.apache_kafka, the same code
as `facegate broker --engine kafka`. If it cannot start, every test that needs it errors:
nothing here skips.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from gateway.brokers.apache_kafka import KafkaBroker, fetch_kafka
from gateway.brokers.process import BrokerError
from gateway.settings import Settings
from tests.support.kafka import Unique


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, sasl: bool) -> Iterator[KafkaBroker]:
    defaults = Settings()
    try:
        libs = fetch_kafka(defaults.cache_dir, defaults.kafka_version)
        broker = KafkaBroker(libs, tmp_path_factory.mktemp(name), sasl=sasl)
        broker.start(timeout=120)
    except BrokerError as exc:
        pytest.fail(f"Apache Kafka did not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Apache Kafka 4.x, PLAINTEXT on loopback."""
    yield from _start(tmp_path_factory, "kafka", sasl=False)


@pytest.fixture(scope="session")
def kafka_sasl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Apache Kafka 4.x with a SASL_PLAINTEXT/SCRAM-SHA-512 listener and the StandardAuthorizer."""
    yield from _start(tmp_path_factory, "kafka-sasl", sasl=True)


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> Unique:
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")
    return Unique(f"t-{test}-{uuid.uuid4().hex[:8]}")


@pytest.fixture(autouse=True)
def _no_orphan_workers() -> Iterator[None]:
    """Workers a failed test left running are stopped, so they cannot disturb the next test."""
    from gateway.shell.local import LocalWorker

    before = set(LocalWorker.running_instances)
    yield
    for worker in set(LocalWorker.running_instances) - before:
        worker.kill()
