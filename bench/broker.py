"""The broker a benchmark runs on: the one given, or its own Apache Kafka (Maven Central, as the tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.brokers.apache_kafka import KafkaBroker, fetch_kafka
from gateway.settings import Settings


def on_broker(bootstrap: str | None, work: Path, run: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Run `run(bootstrap servers)` against `bootstrap`, or against a broker started for it."""
    if bootstrap is not None:
        return run(bootstrap)
    defaults = Settings()
    broker = KafkaBroker(fetch_kafka(defaults.cache_dir, defaults.kafka_version), work / "kafka")
    broker.start()
    try:
        return run(broker.bootstrap_servers)
    finally:
        broker.stop()
