"""`facegate keys generate`: a fresh production keyring document (for a Kubernetes Secret)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.console import console, errors
from gateway.contract.topics import check_tenant_id
from gateway.keyring import Keyring

app = typer.Typer(
    help="Create keyrings. Keys live in files or Secrets, never in code, logs or topics.",
    no_args_is_help=True,
)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="File to create (mode 0600); refuses to overwrite.", dir_okay=False)],
    tenant: Annotated[list[str], typer.Option("--tenant", "-t", help="Tenant to create keys for (repeatable).")],
) -> None:
    """Version 1 of every key: per tenant protection and pseudonym keys, the regulator and signing keys."""
    try:
        tenants = [check_tenant_id(t) for t in tenant]
    except ValueError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        errors.print(f"[red]{out} exists; not overwriting keys[/red]")
        raise typer.Exit(1) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(Keyring.generate(tenants).export() + "\n")
    console.print(f"keyring for {', '.join(tenants)} written to {out} (mode 0600)")
