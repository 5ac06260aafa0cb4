"""`facegate demo`: the whole gateway on one machine, from nothing, with a live view.

Starts the embedded Tansu broker, provisions the topics, runs a worker, publishes a synthetic
world (cameras, consents, enrollments), sends captures, and shows decisions by rule and tenant
as they happen. Ends with a summary that compares every decision with the one the rules must
reach, and exits 0 only if they all agree.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from gateway.brokers.process import BrokerError
from gateway.brokers.tansu import LIMITATIONS, TansuBroker
from gateway.cli.console import console, errors, load_settings
from gateway.cli.output import Exit
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import assign_all, stop_quietly
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import VENDORS, Capture, Traffic, World, build_world
from gateway.sdk.simulator import publish_world, run_traffic
from gateway.settings import Settings
from gateway.shell.local import LocalWorker

TENANTS = ("acme", "beta")
COLUMNS = (*TENANTS, "_unknown")
SHOWN = (Decision.FORWARDED, Decision.STRIPPED, Decision.BLOCKED, Decision.REJECTED)
LIFECYCLE = frozenset({Decision.ENROLLED, Decision.CONSENT_RECORDED})  # audited too, but not captures


class Scoreboard:
    """Audit records as they arrive, against what was sent and what the rules require."""

    def __init__(self) -> None:
        self.expected: dict[str, Capture] = {}
        self.malformed_sent = 0
        self.audits: dict[str, AuditRecord] = {}
        self.by_rule: Counter[tuple[str, str, str]] = Counter()
        self.by_decision: Counter[tuple[str, str]] = Counter()

    def sent(self, item: Capture) -> None:
        if item.capture is None:
            self.malformed_sent += 1
        else:
            self.expected[item.capture.event_id] = item

    def add(self, audit: AuditRecord) -> None:
        if audit.decision in LIFECYCLE:
            return  # the world's consents and enrollments are audited too; the board counts captures
        if audit.event_id in self.audits:
            return  # an at-least-once repeat: same deterministic audit id
        self.audits[audit.event_id] = audit
        self.by_decision[(audit.tenant_id, audit.decision.value)] += 1
        for rule in audit.rule_ids:
            self.by_rule[(rule, audit.decision.value, audit.tenant_id)] += 1

    @property
    def total_sent(self) -> int:
        return len(self.expected) + self.malformed_sent

    @property
    def malformed_rejected(self) -> int:
        return sum(1 for a in self.audits.values() if a.event_id.startswith("undecodable:"))

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
        decisions = Table("tenant", *SHOWN, title="decisions by tenant")
        for tenant in COLUMNS:
            decisions.add_row(tenant, *(str(self.by_decision[(tenant, d.value)]) for d in SHOWN))
        rules = Table("rule", "decision", *COLUMNS, title="decisions by rule and tenant")
        for rule, decision in sorted({(r, d) for r, d, _ in self.by_rule}):
            rules.add_row(rule, decision, *(str(self.by_rule[(rule, decision, t)]) for t in COLUMNS))
        return Panel(Group(decisions, rules), title=title)


async def _follow_audit(settings: Settings, board: Scoreboard, stop: asyncio.Event) -> None:
    codec = default_codec()
    topic = TopicNames(settings.topic_prefix).audit
    consumer = AIOKafkaConsumer(**aiokafka_config(settings), group_id=None)
    await consumer.start()
    try:
        await assign_all(consumer, topic)
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    decoded = codec.decode_any(record.value or b"")
                    if isinstance(decoded, AuditRecord):  # checkpoints are interleaved
                        board.add(decoded)
    finally:
        await stop_quietly(consumer)


async def _drive(
    settings: Settings,
    worker: LocalWorker,
    world: World,
    board: Scoreboard,
    rate: float,
    duration: float,
    live: bool,
) -> None:
    async with FaceGateProducer(settings) as producer:
        await publish_world(producer, world)
        await asyncio.to_thread(worker.wait_for_enrolled, len(world.enrollments))
        stop = asyncio.Event()
        follower = asyncio.create_task(_follow_audit(settings, board, stop))
        with Live(board.view("live"), console=console, refresh_per_second=4, transient=not live) as view:

            async def refresh() -> None:
                while not stop.is_set():
                    view.update(board.view(f"live: {len(board.audits)} of {board.total_sent} decided"))
                    await asyncio.sleep(0.25)  # screen refresh

            painter = asyncio.create_task(refresh())
            await run_traffic(producer, Traffic(world), rate, duration, on_sent=board.sent)
            deadline = time.monotonic() + 60
            while len(board.audits) < board.total_sent and time.monotonic() < deadline:
                await asyncio.sleep(0.2)  # waiting for the last decisions
            stop.set()
            await asyncio.gather(follower, painter)


def _summary(board: Scoreboard) -> bool:
    console.print(board.view("summary"))
    wrong = board.mismatches()
    table = Table("captures sent", "decided", "as the rules require", "malformed sent / rejected")
    table.add_row(
        str(board.total_sent),
        str(len(board.audits)),
        str(len(board.expected) - len(wrong)),
        f"{board.malformed_sent} / {board.malformed_rejected}",
    )
    console.print(table)
    for kind, event_id, got in wrong[:10]:
        errors.print(f"[red]unexpected[/red] {kind} {event_id}: {got}")
    return not wrong and board.malformed_rejected == board.malformed_sent


def demo(
    rate: Annotated[float, typer.Option(min=1, help="Captures per second.")] = 100.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of traffic.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world.")] = 2026,
    live: Annotated[bool, typer.Option(help="Keep the live view on screen (off: only the summary).")] = True,
) -> None:
    """Run the whole gateway locally on the embedded broker and watch it decide."""
    base = load_settings()
    work = base.cache_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    broker = TansuBroker(work / "tansu.log")
    worker: LocalWorker | None = None
    board = Scoreboard()
    try:
        broker.start()
        settings = base.model_copy(
            update={
                "bootstrap_servers": broker.bootstrap_servers,
                "tenants": list(TENANTS),
                "vendors": list(VENDORS),
                "producer_idempotence": False,  # Tansu has no idempotent producers
            }
        )
        console.print(f"[bold]FaceGate demo[/bold] on the embedded broker at {broker.bootstrap_servers}")
        console.print(f"[dim]{LIMITATIONS}[/dim]")
        ensure_gateway_topics(settings, list(TENANTS))
        worker = LocalWorker(
            work / "worker.log",
            {
                "FACEGATE_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "FACEGATE_CACHE_DIR": str(work),
                "FACEGATE_TENANTS": json.dumps(list(TENANTS)),
                "FACEGATE_VENDORS": json.dumps(list(VENDORS)),
                "FACEGATE_PRODUCER_IDEMPOTENCE": str(settings.producer_idempotence).lower(),  # the demo's, above
            },
        )
        worker.start()
        console.print("worker ready; publishing cameras, consents and enrollments")
        asyncio.run(_drive(settings, worker, build_world(seed, TENANTS), board, rate, duration, live))
    except (BrokerError, OSError) as exc:
        errors.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(Exit.FINDING) from None
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
    if not _summary(board):
        raise typer.Exit(Exit.FINDING)
    console.print("[green]every capture got the decision the rules require[/green]")
