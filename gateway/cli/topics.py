"""`facegate topics create|describe`: the contract topics on the cluster FACEGATE_BOOTSTRAP_SERVERS names.

Role: gateway (the platform operator): creating topics and reading or altering their configs
needs the gateway's ACLs on the topic prefix (CREATE, DESCRIBE_CONFIGS, ALTER_CONFIGS) or an admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from rich.markup import escape
from rich.table import Table

from gateway.cli.console import errors, load_settings
from gateway.cli.output import Exit, Format, emit, exit_codes, format_option, out_option
from gateway.contract.topics import TopicNames, check_tenant_id, gateway_topics
from gateway.kafka.provisioning import (
    Action,
    ProvisioningError,
    SettingsMismatch,
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
        help="Tenant whose six topics (four inputs, governed, erasure) to include (repeatable). Default: "
        "FACEGATE_TENANTS. Vendors' capture topics: FACEGATE_VENDORS.",
    ),
]


@contextmanager
def _admin(settings: Settings) -> Iterator[KafkaAdminClient]:
    try:
        admin = admin_client(settings)
    except (KafkaError, ValueError) as exc:
        errors.print(f"[red]cannot reach Kafka at {settings.bootstrap_servers}:[/red] {exc}")
        raise typer.Exit(Exit.KAFKA) from None
    try:
        yield admin
    except SettingsMismatch as exc:
        errors.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(Exit.USAGE) from None
    except (KafkaError, ProvisioningError) as exc:
        errors.print(f"[red]Kafka refused:[/red] {exc} (`facegate topics` needs the gateway role's ACLs or an admin's)")
        raise typer.Exit(Exit.KAFKA) from None
    finally:
        admin.close()


def _tenants(tenant: list[str] | None, settings: Settings) -> list[str]:
    try:
        return [check_tenant_id(t) for t in tenant] if tenant else settings.tenants
    except ValueError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None


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


TableOrJson = Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)]
Out = Annotated[Path | None, out_option()]


@app.command(epilog=exit_codes(None) + " Role: gateway (platform operator).")
def create(tenant: TenantOption = None, format: TableOrJson = Format.TABLE, out: Out = None) -> None:
    """Create every topic a worker needs that is missing (the contract's and the gateway's internal
    ones) and set drifted configs back (idempotent)."""
    settings = load_settings()
    specs = gateway_topics(settings, _tenants(tenant, settings))
    with _admin(settings) as admin:
        outcomes = ensure_topics(admin, specs, strict(settings))
    data = [
        {"topic": o.spec.name, "kind": o.spec.kind, "action": str(o.action), "changes": o.changes,
         "warnings": o.warnings}
        for o in outcomes
    ]  # fmt: skip

    def tables() -> list[Table]:
        table = Table(title=f"topics on {settings.bootstrap_servers}")
        table.add_column("topic", no_wrap=True)
        table.add_column("action")
        table.add_column("details")
        for outcome in outcomes:
            style = {Action.CREATED: "green", Action.UPDATED: "yellow", Action.UNCHANGED: "dim"}[outcome.action]
            details = "; ".join(outcome.changes + outcome.warnings)
            table.add_row(outcome.spec.name, f"[{style}]{outcome.action}[/{style}]", details)
        return [table]

    emit(format, data, tables, out)


@app.command(epilog=exit_codes("a topic is missing") + " Drift is reported, not an error. Role: gateway.")
def describe(tenant: TenantOption = None, format: TableOrJson = Format.TABLE, out: Out = None) -> None:
    """Show each topic a worker needs: partitions, replication, cleanup and retention, and whether it matches."""
    settings = load_settings()
    specs = gateway_topics(settings, _tenants(tenant, settings))
    with _admin(settings) as admin:
        states = describe_topics(admin, specs)
        brokers = cluster_brokers(admin)
        retired = sorted(set(admin.list_topics()) & set(TopicNames(settings.topic_prefix).retired))
    rows: list[dict[str, object]] = []
    drifted: list[str] = []
    for spec, state in zip(specs, states, strict=True):
        if not state.exists:
            rows.append({"topic": spec.name, "kind": spec.kind, "exists": False, "drift": []})
            continue
        # Configs, partitions, and durability: fewer replicas or a lower min.insync.replicas than configured.
        problems = drift(spec, state, brokers)
        drifted += [escape(f"drifted {spec.name}: {problem}") for problem in problems]
        rows.append({
            "topic": spec.name, "kind": spec.kind, "exists": True, "partitions": state.partitions,
            "replicas": state.replication_factor, "min_insync_replicas": state.config.get("min.insync.replicas"),
            "cleanup_policy": state.config.get("cleanup.policy"), "retention_ms": state.config.get("retention.ms"),
            "drift": problems,
        })  # fmt: skip
    missing = sum(1 for row in rows if not row["exists"])

    def tables() -> list[Table | str]:
        table = Table(title=f"contract topics on {settings.bootstrap_servers} ({brokers} broker(s))")
        table.add_column("topic", no_wrap=True)
        for column in ("kind", "partitions", "replicas", "min isr", "cleanup", "retention", "matches"):
            table.add_column(column)
        for row in rows:
            if not row["exists"]:
                table.add_row(str(row["topic"]), str(row["kind"]), "-", "-", "-", "-", "-", "[red]missing[/red]")
                continue
            table.add_row(
                str(row["topic"]), str(row["kind"]), str(row["partitions"]), str(row["replicas"]),
                str(row["min_insync_replicas"] or "?"), str(row["cleanup_policy"] or "?"),
                _duration(str(row["retention_ms"] or "?")),
                "[yellow]drifted[/yellow]" if row["drift"] else "[green]yes[/green]",
            )  # fmt: skip
        left = [
            f"[yellow]retired {name}[/yellow]: a shared input topic of 0.2 or earlier, no longer read; delete it "
            "once its producers moved to their own topics (docs/operations.md, 'Upgrading to 0.3')"
            for name in retired
        ]
        return [table, *drifted, *left]

    emit(format, {"brokers": brokers, "topics": rows, "retired": retired}, tables, out)
    if missing:
        errors.print(f"{missing} topic(s) missing: run `facegate topics create`")
        raise typer.Exit(Exit.FINDING)
