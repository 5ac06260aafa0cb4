"""`facegate acl plan|apply`: the four roles' ACLs, for clusters without Strimzi's KafkaUser.

Role: the platform operator, with a Kafka admin's credentials (ALTER on the cluster) for apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from kafka.errors import KafkaError
from pydantic import ValidationError
from rich.table import Table

from gateway.cli.console import errors, load_settings
from gateway.cli.output import Exit, Format, emit, exit_codes, format_option, out_option
from gateway.contract.roles import AclRule, Roles, RolesError, acl_rules
from gateway.kafka.acls import apply_rules
from gateway.kafka.provisioning import admin_client

app = typer.Typer(help="Kafka ACLs for vendors, tenants, regulators and the gateway.", no_args_is_help=True)

RolesFile = Annotated[
    Path,
    typer.Option(
        "--roles", exists=True, dir_okay=False,
        help="YAML: gateway: User:x; vendors: {lumen: User:v}; tenants: {acme: User:acme}; regulators: [User:r].",
    ),
]  # fmt: skip


def _rules(roles_file: Path) -> list[AclRule]:
    settings = load_settings()
    try:
        roles = Roles.load(roles_file)
    except (ValidationError, ValueError, OSError) as exc:
        errors.print(f"[red]{roles_file.name}: {exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    try:
        return acl_rules(roles, settings.topic_prefix, settings.app_id)
    except RolesError as exc:
        errors.print(f"[red]{roles_file.name}: {exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None


def _table(title: str, rules: list[AclRule]) -> Table:
    table = Table(title=title)
    for column in ("principal", "resource", "pattern", "name", "operation"):
        table.add_column(column)
    for r in rules:
        table.add_row(r.principal, r.resource, r.pattern, r.name, r.operation)
    return table


def _rows(rules: list[AclRule]) -> list[dict[str, str]]:
    return [{"principal": r.principal, "resource": r.resource, "pattern": r.pattern, "name": r.name,
             "operation": r.operation} for r in rules]  # fmt: skip


TableOrJson = Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)]
Out = Annotated[Path | None, out_option()]


@app.command(epilog=exit_codes(None) + " Role: platform operator (nothing is changed; no Kafka access).")
def plan(roles: RolesFile, format: TableOrJson = Format.TABLE, out: Out = None) -> None:
    """Print the ACLs the roles need (nothing is changed)."""
    rules = _rules(roles)
    emit(format, _rows(rules), lambda: [_table("ACLs", rules)], out)


@app.command(epilog=exit_codes(None) + " Role: platform operator, as a Kafka admin.")
def apply(
    roles: RolesFile,
    prune: Annotated[bool, typer.Option(help="Delete the principals' ACLs the model does not hold.")] = False,
    format: TableOrJson = Format.TABLE,
    out: Out = None,
) -> None:
    """Create the missing ACLs (idempotent); with --prune also delete stray ones of these principals."""
    rules = _rules(roles)
    settings = load_settings()
    try:
        with admin_client(settings) as admin:
            changes = apply_rules(admin, rules, prune)
    except KafkaError as exc:
        errors.print(f"[red]Kafka refused:[/red] {exc} (`facegate acl apply` needs a Kafka admin's credentials)")
        raise typer.Exit(Exit.KAFKA) from None
    summary = f"{len(changes.created)} created, {len(changes.kept)} already present, {len(changes.deleted)} deleted"
    data = {"created": _rows(changes.created), "deleted": _rows(changes.deleted), "kept": len(changes.kept)}

    def tables() -> list[Table | str]:
        shown: list[Table | str] = [summary]
        if changes.created:
            shown.append(_table("created", changes.created))
        if changes.deleted:
            shown.append(_table("deleted", changes.deleted))
        return shown

    emit(format, data, tables, out)
