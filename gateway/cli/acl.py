"""`facegate acl plan|apply`: the four roles' ACLs, for clusters without Strimzi's KafkaUser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from gateway.cli.console import console, errors, load_settings
from gateway.contract.roles import AclRule, Roles, acl_rules
from gateway.kafka.acls import apply_rules
from gateway.kafka.provisioning import admin_client

app = typer.Typer(help="Kafka ACLs for vendors, tenants, regulators and the gateway.", no_args_is_help=True)

RolesFile = Annotated[
    Path,
    typer.Option(
        "--roles", exists=True, dir_okay=False,
        help="YAML: gateway: User:x; vendors: [User:v]; tenants: {acme: User:acme}; regulators: [User:r].",
    ),
]  # fmt: skip


def _rules(roles_file: Path) -> list[AclRule]:
    settings = load_settings()
    try:
        roles = Roles.load(roles_file)
    except (ValidationError, ValueError, OSError) as exc:
        errors.print(f"[red]{roles_file.name}: {exc}[/red]")
        raise typer.Exit(2) from None
    return acl_rules(roles, settings.topic_prefix, settings.app_id)


def _table(title: str, rules: list[AclRule]) -> Table:
    table = Table(title=title)
    for column in ("principal", "resource", "pattern", "name", "operation"):
        table.add_column(column)
    for r in rules:
        table.add_row(r.principal, r.resource, r.pattern, r.name, r.operation)
    return table


@app.command()
def plan(roles: RolesFile) -> None:
    """Print the ACLs the roles need (nothing is changed)."""
    console.print(_table("ACLs", _rules(roles)))


@app.command()
def apply(
    roles: RolesFile,
    prune: Annotated[bool, typer.Option(help="Delete the principals' ACLs the model does not hold.")] = False,
) -> None:
    """Create the missing ACLs (idempotent); with --prune also delete stray ones of these principals."""
    rules = _rules(roles)
    with admin_client(load_settings()) as admin:
        changes = apply_rules(admin, rules, prune)
    if changes.created:
        console.print(_table("created", changes.created))
    if changes.deleted:
        console.print(_table("deleted", changes.deleted))
    console.print(
        f"{len(changes.created)} created, {len(changes.kept)} already present, {len(changes.deleted)} deleted"
    )
