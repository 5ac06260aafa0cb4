"""`facegate broker`: a local Kafka on loopback, Tansu (embedded, default) or Apache Kafka (one node or a cluster)."""

from __future__ import annotations

import shutil
import signal
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from gateway.brokers.apache_kafka import KafkaBroker, KafkaCluster, fetch_kafka
from gateway.brokers.process import BrokerError
from gateway.brokers.tansu import LIMITATIONS, TansuBroker
from gateway.cli.console import console, errors, load_settings


class Engine(StrEnum):
    TANSU = "tansu"
    KAFKA = "kafka"


def broker(
    port: Annotated[int, typer.Option(help="Port to listen on, on 127.0.0.1.")] = 9092,
    engine: Annotated[
        Engine,
        typer.Option(help="tansu: embedded in-memory demo broker; kafka: Apache Kafka 4.x from Maven Central."),
    ] = Engine.TANSU,
    sasl: Annotated[
        bool,
        typer.Option(help="kafka only: SASL_PLAINTEXT/SCRAM-SHA-512 listener with the StandardAuthorizer."),
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="kafka only: storage folder (default: <cache_dir>/kafka-data).")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="kafka only: delete existing storage first.")] = False,
    fetch_only: Annotated[
        bool, typer.Option(help="kafka only: fetch the jars with Maven into the cache, then exit.")
    ] = False,
    nodes: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="kafka only: brokers. More than one: a cluster on ports PORT.. with a dedicated KRaft "
            "controller after them, internal topics replicated 3 times (docs/operations.md).",
        ),
    ] = 1,
    combined: Annotated[
        bool, typer.Option(help="kafka, --nodes > 1: every node broker and controller, no dedicated controller.")
    ] = False,
) -> None:
    """Start a broker (or a cluster) on loopback, print its bootstrap address, run until Ctrl-C or SIGTERM."""
    settings = load_settings()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    running: KafkaBroker | KafkaCluster | TansuBroker
    try:
        if engine is Engine.KAFKA:
            libs = fetch_kafka(settings.cache_dir, settings.kafka_version)
            if fetch_only:
                console.print(f"Apache Kafka {settings.kafka_version} jars in {libs}")
                return
            if nodes > 1 and sasl:
                errors.print("[red]--sasl needs --nodes 1[/red]")
                raise typer.Exit(2)
            storage = data_dir or settings.cache_dir / ("kafka-data" if nodes == 1 else f"kafka-cluster-{nodes}")
            if fresh:
                shutil.rmtree(storage, ignore_errors=True)
            label = f"Apache Kafka {settings.kafka_version}"
            if nodes == 1:
                running = KafkaBroker(libs, storage, port=port, controller_port=port + 1, sasl=sasl)
                label += " (SASL/SCRAM, ACLs)" if sasl else ""
            else:
                running = KafkaCluster(libs, storage, brokers=nodes, combined=combined, base_port=port)
                label += f", {nodes} brokers" + (" (combined broker+controller)" if combined else " and a controller")
        else:
            if sasl or fetch_only or nodes > 1:
                errors.print("[red]--sasl, --fetch-only and --nodes need --engine kafka[/red]")
                raise typer.Exit(2)
            running = TansuBroker(settings.cache_dir / "tansu.log", port=port)
            label = "Tansu (embedded)"
        running.start()
    except BrokerError as exc:
        errors.print(f"[red]broker failed:[/red] {exc}")
        raise typer.Exit(1) from None

    console.print(f"{label} ready. bootstrap: [bold]{running.bootstrap_servers}[/bold]")
    console.print(f"export FACEGATE_BOOTSTRAP_SERVERS={running.bootstrap_servers}", highlight=False)
    if isinstance(running, TansuBroker):
        console.print(
            "export FACEGATE_PRODUCER_IDEMPOTENCE=false  # Tansu has no idempotent producers", highlight=False
        )
    if isinstance(running, KafkaCluster):
        _describe_cluster(running)
    elif isinstance(running, TansuBroker):
        console.print(f"[yellow]{LIMITATIONS}[/yellow]")
    console.file.flush()
    if isinstance(running, KafkaCluster):
        _serve_cluster(running, stop)
    else:
        _serve(running, stop)


def _serve(running: KafkaBroker | TansuBroker, stop: threading.Event) -> None:
    died = False
    while not stop.wait(0.5):
        if not running.running():
            died = True
            break
    code = running.stop()
    if died:
        errors.print(f"[red]broker exited unexpectedly (code {code})[/red]")
        raise typer.Exit(1)
    console.print("broker stopped")


def _describe_cluster(cluster: KafkaCluster) -> None:
    console.print(f"started in {cluster.start_seconds:.1f}s", highlight=False)
    for node in cluster.processes:
        where = f"127.0.0.1:{node.port}" if node.is_broker else f"controller 127.0.0.1:{node.controller_port}"
        console.print(
            f"  node {node.node_id} ({node.roles}) {where}  pid {node.pid}  heap {node.heap}  "
            f"resident {node.rss_bytes() / 2**20:.0f} MiB  log {node.data_dir / 'server.log'}",
            highlight=False,
        )


def _serve_cluster(cluster: KafkaCluster, stop: threading.Event) -> None:
    """A cluster keeps running while nodes come and go (kill -9 one to see a failover); it ends at
    Ctrl-C or SIGTERM, or when every node has exited."""
    up = {node.node_id: True for node in cluster.processes}
    while not stop.wait(0.5):
        for node in cluster.processes:
            if up[node.node_id] != node.running():
                up[node.node_id] = node.running()
                errors.print(f"node {node.node_id} {'is running' if up[node.node_id] else 'exited'}")
        if not any(up.values()):
            errors.print("[red]every node of the cluster exited[/red]")
            raise typer.Exit(1)
    cluster.stop()
    console.print("cluster stopped")
