"""`facegate broker` starts the embedded Tansu broker, carries records, and stops cleanly on a signal."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from facegate_sdk import Connection, FaceGateProducer, IdempotenceRefused
from kafka.admin import KafkaAdminClient, NewTopic
from typer.testing import CliRunner

from gateway.brokers.process import free_port, port_open
from gateway.cli import app
from gateway.cli.output import Exit

pytestmark = pytest.mark.tansu


class Broker:
    """`facegate broker` as a user runs it, with its output read line by line."""

    def __init__(self, port: int, home: Path) -> None:
        env = {**os.environ, "HOME": str(home), "FACEGATE_CACHE_DIR": str(home / "cache")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "broker", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,  # its own process group: cleanup reaches the Tansu child too
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed within {timeout}s: {''.join(self.output)}")


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[tuple[Broker, int]]:
    port = free_port()
    broker = Broker(port, tmp_path)
    try:
        yield broker, port
    finally:
        if broker.proc.poll() is None:
            broker.proc.send_signal(signal.SIGTERM)  # the command stops its Tansu child on the way out
            try:
                broker.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(broker.proc.pid, signal.SIGKILL)
                broker.proc.wait()


async def _round_trip(bootstrap: str, topic: str, values: list[bytes]) -> list[bytes]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="tansu-test", auto_offset_reset="earliest")
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < len(values):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    got += [r.value for r in records if r.value is not None]
    finally:
        await consumer.stop()
    return got


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_broker_command_serves_and_stops(tansu: tuple[Broker, int], stop_signal: signal.Signals) -> None:
    broker, port = tansu
    line = broker.wait_for("bootstrap:")
    bootstrap = f"127.0.0.1:{port}"
    assert bootstrap in line
    broker.wait_for(f"export FACEGATE_BOOTSTRAP_SERVERS={bootstrap}")

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic("demo.check", 1, 1)])
    admin.close()
    values = [f"capture-{i}".encode() for i in range(20)]
    assert asyncio.run(_round_trip(bootstrap, "demo.check", values)) == values

    broker.proc.send_signal(stop_signal)
    assert broker.proc.wait(timeout=20) == 0
    assert not port_open(port), "the Tansu process must be gone with the command"


def test_port_in_use_is_a_clear_error(tansu: tuple[Broker, int], tmp_path: Path) -> None:
    first, port = tansu
    first.wait_for("bootstrap:")
    second = Broker(port, tmp_path / "second")
    assert second.proc.wait(timeout=30) == 1
    second.wait_for("already in use")


GRANT = ["--tenant", "acme", "--subject", "s-1", "--purpose", "ACCESS_CONTROL", "--notice", "v1"]


def test_an_idempotent_producer_on_tansu_is_a_clear_error(tansu: tuple[Broker, int]) -> None:
    """Tansu has no idempotent producers (InitProducerId fails): the SDK says how to go on, the CLI
    exits 3 with it, and what the broker command prints to export makes the CLI work."""
    broker, port = tansu
    broker.wait_for("export FACEGATE_PRODUCER_IDEMPOTENCE=false")
    bootstrap = f"127.0.0.1:{port}"
    connection = Connection(bootstrap_servers=bootstrap, topic_prefix="tansu.")

    async def sdk(idempotence: bool = True) -> None:
        async with FaceGateProducer(connection, vendor_id="lumen", enable_idempotence=idempotence) as producer:
            await producer.send_raw_capture(b"k", b"not a capture")

    with pytest.raises(IdempotenceRefused, match="enable_idempotence=False"):
        asyncio.run(sdk())
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic("tansu.faces.raw.lumen", 1, 1)])
    admin.close()
    asyncio.run(sdk(idempotence=False))  # sent and acknowledged

    env = {"FACEGATE_BOOTSTRAP_SERVERS": bootstrap, "FACEGATE_TOPIC_PREFIX": "tansu."}
    refused = CliRunner().invoke(app, ["consent", "grant", *GRANT], env=env)
    assert refused.exit_code == Exit.KAFKA, refused.output
    assert "FACEGATE_PRODUCER_IDEMPOTENCE=false" in refused.stderr and "Traceback" not in refused.output
    granted = CliRunner().invoke(
        app, ["consent", "grant", *GRANT], env={**env, "FACEGATE_PRODUCER_IDEMPOTENCE": "false"}
    )
    assert granted.exit_code == 0, granted.output
