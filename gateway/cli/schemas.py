"""`facegate schemas check|list`: the Avro contract and its evolution.

Role: any (no Kafka access): vendors read the fingerprints, the platform operator and CI check
the evolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.console import console, errors
from gateway.cli.output import Exit, Format, emit, exit_codes, format_option, out_option
from gateway.contract.history import check_release, forward_checked, released_dirs
from gateway.contract.schemas import SchemaError, SchemaSet, default_schema_dir

app = typer.Typer(help="Inspect the Avro contract and check its evolution.", no_args_is_help=True)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Schema folder (default: the installed contract).", file_okay=False),
]


@app.command("list", epilog=exit_codes(None) + " Role: any.")
def list_records(
    schema_dir: DirOption = None,
    format: Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)] = Format.TABLE,
    out: Annotated[Path | None, out_option()] = None,
) -> None:
    """List the contract's records with their single-object-encoding fingerprints."""
    schemas = SchemaSet.load(schema_dir)
    rows = [{"record": r.fullname, "fingerprint": r.fingerprint.hex(), "fields": len(r.fields())} for r in schemas]

    def tables() -> list[Table]:
        table = Table("record", "fingerprint (CRC-64-AVRO, LE)", "fields")
        for row in rows:
            table.add_row(str(row["record"]), str(row["fingerprint"]), str(row["fields"]))
        return [table]

    emit(format, rows, tables, out)


@app.command(epilog=exit_codes("an incompatible or invalid schema") + " Role: any.")
def check(schema_dir: DirOption = None) -> None:
    """Fail (exit 1) unless today's schemas read every release's data and, from 0.2.0 on, every
    release reads today's data."""
    directory = schema_dir or default_schema_dir()
    try:
        current = SchemaSet.load(directory)
        releases = released_dirs(directory)
        if not releases:
            errors.print(f"no released versions under {directory / 'released'}")
            raise typer.Exit(Exit.FINDING)
        problems = [(release.name, problem) for release in releases for problem in check_release(current, release)]
    except SchemaError as exc:
        errors.print(f"[red]schema error:[/red] {exc}")
        raise typer.Exit(Exit.FINDING) from None
    if problems:
        for release, problem in problems:
            errors.print(f"[red]incompatible with release {release}:[/red] {problem}")
        raise typer.Exit(Exit.FINDING)
    both = [r.name for r in releases if forward_checked(r)]
    backward = [r.name for r in releases if not forward_checked(r)]
    console.print(
        f"{len(current.records)} records: backward compatible with {', '.join(r.name for r in releases)}"
        + (f"; forward compatible with {', '.join(both)}" if both else "")
        + (f" (before 0.2.0 backward only: {', '.join(backward)})" if backward else "")
    )
