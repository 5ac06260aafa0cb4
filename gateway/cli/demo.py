"""`facegate demo`: the whole gateway on one machine, from nothing, with a live view.

Starts the embedded Tansu broker, provisions the topics, runs a worker, publishes a synthetic
world (cameras, consents, enrollments), sends captures, and shows decisions by rule and tenant
as they happen. Ends with a summary that compares every decision with the one the rules must
reach, and exits 0 only if they all agree.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from gateway.brokers.process import BrokerError, free_port
from gateway.brokers.tansu import LIMITATIONS, TansuBroker
from gateway.cli.console import console, errors, load_settings
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Capture, Traffic, build_world
from gateway.sdk.simulator import publish_world, run_traffic
from gateway.settings import Settings

TENANTS = ("acme", "beta")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback worker
            return response.status, response.read().decode()
    except OSError as exc:
        return getattr(exc, "code", 0) or 0, ""


def _wait(condition: object, timeout: float, what: str, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}) while waiting for {what}")
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)  # poll interval
    raise RuntimeError(f"{what} not reached within {timeout:.0f}s")


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


class Scoreboard:
    def __init__(self) -> None:
        self.expected: dict[str, Capture] = {}
        self.audits: dict[str, AuditRecord] = {}
        self.by_rule: Counter[tuple[str, str, str]] = Counter()
        self.by_decision: Counter[tuple[str, str]] = Counter()

    def add(self, audit: AuditRecord) -> None:
        if audit.event_id in self.audits:
            return  # an at-least-once repeat: same deterministic audit id
        self.audits[audit.event_id] = audit
        self.by_decision[(audit.tenant_id, audit.decision.value)] += 1
        for rule in audit.rule_ids:
            self.by_rule[(rule, audit.decision.value, audit.tenant_id)] += 1

    def mismatches(self) -> list[tuple[str, str, str]]:
        wrong = []
        for event_id, item in self.expected.items():
            audit = self.audits.get(event_id)
            if audit is None:
                wrong.append((item.kind, event_id, "no decision"))
            elif audit.decision is not item.expected.decision or item.expected.rule not in audit.rule_ids:
                wrong.append((item.kind, event_id, f"{audit.decision} {audit.rule_ids} {audit.reason_codes}"))
        return wrong

    def view(self, title: str) -> Panel:
        columns = (*TENANTS, "_unknown")
        rules = Table("rule", "decision", *columns, title="decisions by rule and tenant")
        for rule, decision in sorted({(r, d) for r, d, _ in self.by_rule}):
            rules.add_row(rule, decision, *(str(self.by_rule[(rule, decision, t)]) for t in columns))
        decisions = Table(
            "tenant", "FORWARDED", "STRIPPED", "BLOCKED", "REJECTED", title="decisions by tenant"
        )
        for tenant in (*TENANTS, "_unknown"):
            decisions.add_row(
                tenant,
                *(
                    str(self.by_decision[(tenant, d)])
                    for d in ("FORWARDED", "STRIPPED", "BLOCKED", "REJECTED")
                ),
            )
        return Panel(Group(decisions, rules), title=title)


async def _follow_audit(settings: Settings, board: Scoreboard, stop: asyncio.Event) -> None:
    codec = default_codec()
    topic = TopicNames(settings.topic_prefix).audit
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    board.add(codec.decode(record.value or b"", AuditRecord))
    finally:
        await consumer.stop()


def demo(
    rate: Annotated[float, typer.Option(min=1, help="Captures per second.")] = 100.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of traffic.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world.")] = 2026,
    live: Annotated[bool, typer.Option(help="Show the live view (off: only the summary).")] = True,
) -> None:
    """Run the whole gateway locally on the embedded broker and watch it decide."""
    base = load_settings()
    work = base.cache_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    broker = TansuBroker(work / "tansu.log")
    worker: subprocess.Popen[bytes] | None = None
    board = Scoreboard()
    try:
        broker.start()
        web_port = free_port()
        settings = base.model_copy(
            update={"bootstrap_servers": broker.bootstrap_servers, "tenants": list(TENANTS)}
        )
        console.print(f"[bold]FaceGate demo[/bold] on the embedded broker at {broker.bootstrap_servers}")
        console.print(f"[dim]{LIMITATIONS}[/dim]")
        ensure_gateway_topics(settings, list(TENANTS))
        env = {
            **os.environ,
            "FACEGATE_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "FACEGATE_WEB_PORT": str(web_port),
            "FACEGATE_WEB_HOST": "127.0.0.1",
            "FACEGATE_SESSION_TIMEOUT_MS": "6000",
            "FACEGATE_CACHE_DIR": str(work),
            "FACEGATE_TENANTS": json.dumps(list(TENANTS)),
        }
        log = open(work / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
        worker = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--no-provision"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        metrics_url = f"http://127.0.0.1:{web_port}"
        _wait(lambda: _get(f"{metrics_url}/readyz")[0] == 200, 90, "worker readiness", worker)
        console.print("worker ready; publishing cameras, consents and enrollments")
        world = build_world(seed, TENANTS)

        async def go() -> None:
            async with FaceGateProducer(settings) as producer:
                await publish_world(producer, world)
                await asyncio.to_thread(
                    _wait,
                    lambda: _metric(_get(f"{metrics_url}/metrics")[1], "facegate_enrolled_subjects") >= len(world.enrollments),
                    60, "enrollments applied", worker,
                )  # fmt: skip
                stop = asyncio.Event()
                follower = asyncio.create_task(_follow_audit(settings, board, stop))

                def sent(item: Capture) -> None:
                    event_id = item.capture.event_id if item.capture else f"raw-{len(board.expected)}"
                    board.expected[event_id] = item

                with Live(
                    board.view("live"), console=console, refresh_per_second=4, transient=not live
                ) as view:

                    async def refresh() -> None:
                        while not stop.is_set():
                            view.update(board.view(f"live: {len(board.audits)} decisions"))
                            await asyncio.sleep(0.25)  # screen refresh

                    painter = asyncio.create_task(refresh())
                    await run_traffic(producer, Traffic(world), rate, duration, on_sent=sent)
                    deadline = time.monotonic() + 60
                    while len(board.audits) < len(board.expected) and time.monotonic() < deadline:
                        await asyncio.sleep(0.2)  # waiting for the last decisions
                    stop.set()
                    await asyncio.gather(follower, painter)

        asyncio.run(go())
    except (BrokerError, RuntimeError, OSError) as exc:
        errors.print(f"[red]demo failed:[/red] {exc}")
        if (work / "worker.log").exists():
            errors.print("\n".join((work / "worker.log").read_text(errors="replace").splitlines()[-20:]))
        raise typer.Exit(1) from None
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()

    console.print(board.view("summary"))
    # Malformed inputs have no event id to match by; they are checked by count.
    wrong = [w for w in board.mismatches() if not w[1].startswith("raw-")]
    malformed_sent = sum(1 for k in board.expected if k.startswith("raw-"))
    malformed_decided = sum(
        1
        for a in board.audits.values()
        if a.decision.value == "REJECTED" and a.event_id.startswith("undecodable:")
    )
    summary = Table("sent", "decided", "as the rules require", "malformed sent / rejected")
    summary.add_row(
        str(len(board.expected)),
        str(len(board.audits)),
        str(len(board.expected) - malformed_sent - len(wrong)),
        f"{malformed_sent} / {malformed_decided}",
    )
    console.print(summary)
    if wrong or malformed_decided != malformed_sent:
        for kind, event_id, got in wrong[:10]:
            errors.print(f"[red]unexpected[/red] {kind} {event_id}: {got}")
        raise typer.Exit(1)
    console.print("[green]every capture got the decision the rules require[/green]")
