"""`facegate topics create|describe`: the contract topics on the cluster FACEGATE_BOOTSTRAP_SERVERS names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from rich.table import Table

from gateway.cli.console import console, errors, load_settings
from gateway.contract.topics import check_tenant_id, contract_topics
from gateway.kafka.provisioning import (
    Action,
    ProvisioningError,
    admin_client,
    cluster_brokers,
    describe_topics,
    drift,
    ensure_topics,
    strict,
)
from gateway.settings import Settings

app = typer.Typer(help="Provision and inspect the contract topics.", no_args_is_help=True)

TenantOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tenant",
        "-t",
        help="Tenant whose governed and erasure topics to include (repeatable). Default: FACEGATE_TENANTS.",
    ),
]


@contextmanager
def _admin(settings: Settings) -> Iterator[KafkaAdminClient]:
    try:
        admin = admin_client(settings)
    except (KafkaError, ValueError) as exc:
        errors.print(f"[red]cannot reach Kafka at {settings.bootstrap_servers}:[/red] {exc}")
        raise typer.Exit(1) from None
    try:
        yield admin
    except (KafkaError, ProvisioningError) as exc:
        errors.print(f"[red]Kafka refused:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        admin.close()


def _tenants(tenant: list[str] | None, settings: Settings) -> list[str]:
    try:
        return [check_tenant_id(t) for t in tenant] if tenant else settings.tenants
    except ValueError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _duration(ms: str) -> str:
    if not ms.lstrip("-").isdigit():
        return ms
    value = int(ms)
    if value < 0:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}ms"


@app.command()
def create(tenant: TenantOption = None) -> None:
    """Create every contract topic that is missing and set drifted configs back (idempotent)."""
    settings = load_settings()
    specs = contract_topics(settings, _tenants(tenant, settings))
    with _admin(settings) as admin:
        outcomes = ensure_topics(admin, specs, strict(settings))
    table = Table(title=f"contract topics on {settings.bootstrap_servers}")
    table.add_column("topic", no_wrap=True)
    table.add_column("action")
    table.add_column("details")
    for outcome in outcomes:
        style = {Action.CREATED: "green", Action.UPDATED: "yellow", Action.UNCHANGED: "dim"}[outcome.action]
        details = "; ".join(outcome.changes + outcome.warnings)
        table.add_row(outcome.spec.name, f"[{style}]{outcome.action}[/{style}]", details)
    console.print(table)


@app.command()
def describe(tenant: TenantOption = None) -> None:
    """Show each contract topic: partitions, replication, cleanup and retention, and whether it matches."""
    settings = load_settings()
    specs = contract_topics(settings, _tenants(tenant, settings))
    with _admin(settings) as admin:
        states = describe_topics(admin, specs)
        brokers = cluster_brokers(admin)
    table = Table(title=f"contract topics on {settings.bootstrap_servers} ({brokers} broker(s))")
    table.add_column("topic", no_wrap=True)
    for column in ("kind", "partitions", "replicas", "min isr", "cleanup", "retention", "matches"):
        table.add_column(column)
    missing = 0
    drifted: list[str] = []
    for spec, state in zip(specs, states, strict=True):
        if not state.exists:
            missing += 1
            table.add_row(spec.name, spec.kind, "-", "-", "-", "-", "-", "[red]missing[/red]")
            continue
        # Configs, partitions, and durability: fewer replicas or a lower min.insync.replicas than configured.
        problems = drift(spec, state, brokers)
        drifted += [f"{spec.name}: {problem}" for problem in problems]
        table.add_row(
            spec.name,
            spec.kind,
            str(state.partitions),
            str(state.replication_factor),
            state.config.get("min.insync.replicas", "?"),
            state.config.get("cleanup.policy", "?"),
            _duration(state.config.get("retention.ms", "?")),
            "[yellow]drifted[/yellow]" if problems else "[green]yes[/green]",
        )
    console.print(table)
    for line in drifted:
        console.print(f"drifted {line}", highlight=False)
    if missing:
        errors.print(f"{missing} topic(s) missing: run `facegate topics create`")
        raise typer.Exit(1)
