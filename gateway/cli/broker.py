"""`facegate broker`: a local Kafka on loopback, Tansu (embedded, default) or Apache Kafka."""

from __future__ import annotations

import shutil
import signal
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from gateway.brokers.apache_kafka import KafkaBroker, fetch_kafka
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
) -> None:
    """Start a broker on loopback, print its bootstrap address, run until Ctrl-C or SIGTERM."""
    settings = load_settings()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        if engine is Engine.KAFKA:
            libs = fetch_kafka(settings.cache_dir, settings.kafka_version)
            if fetch_only:
                console.print(f"Apache Kafka {settings.kafka_version} jars in {libs}")
                return
            storage = data_dir or settings.cache_dir / "kafka-data"
            if fresh:
                shutil.rmtree(storage, ignore_errors=True)
            running: KafkaBroker | TansuBroker = KafkaBroker(
                libs, storage, port=port, controller_port=port + 1, sasl=sasl
            )
            label = f"Apache Kafka {settings.kafka_version}" + (" (SASL/SCRAM, ACLs)" if sasl else "")
        else:
            if sasl or fetch_only:
                errors.print("[red]--sasl and --fetch-only need --engine kafka[/red]")
                raise typer.Exit(2)
            running = TansuBroker(settings.cache_dir / "tansu.log", port=port)
            label = "Tansu (embedded)"
        running.start()
    except BrokerError as exc:
        errors.print(f"[red]broker failed:[/red] {exc}")
        raise typer.Exit(1) from None

    console.print(f"{label} ready. bootstrap: [bold]{running.bootstrap_servers}[/bold]")
    console.print(f"export FACEGATE_BOOTSTRAP_SERVERS={running.bootstrap_servers}", highlight=False)
    if engine is Engine.TANSU:
        console.print(f"[yellow]{LIMITATIONS}[/yellow]")
    console.file.flush()

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
