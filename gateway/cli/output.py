"""The output convention every command follows (docs/cli.md).

- A command that prints data takes `--format` (the choices that apply to it among table, json,
  markdown and html) and `--out FILE` to write that output to a file instead of stdout.
- Data goes to stdout (or --out); notes, warnings, deprecations and errors go to stderr.
- Exit codes: 0 ok; 1 a finding or a failed check (tampering, missing topics, inputs without a
  decision, nothing recorded); 2 a usage or configuration error (a bad flag or value, bad
  settings, an unreadable input file); 3 Kafka could not be used: unreachable, a topic missing,
  or the principal is not authorized (the message names the role whose ACLs the command needs).
- Old spellings (`--json`, `--format md`) still work for one release, hidden from --help, and
  print a deprecation note on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, RenderableType

from gateway.cli.console import console, errors
from gateway.settings import names_one

REMOVED_IN = "0.4.0"


class Exit(IntEnum):
    OK = 0
    FINDING = 1
    USAGE = 2
    KAFKA = 3


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


def exit_codes(finding: str | None = "a finding or failed check") -> str:
    """The exit-code paragraph of a command's help (`finding`: what exit 1 means, None: unused)."""
    one = f" 1 {finding};" if finding else ""
    return (
        f"Exit codes: 0 ok;{one} 2 usage or configuration error; "
        "3 Kafka unreachable, a topic missing or not authorized (names the role needed)."
    )


def deprecated(old: str, new: str) -> None:
    """Say on stderr that an old spelling is used (it still works until REMOVED_IN)."""
    errors.print(f"[yellow]deprecated:[/yellow] {old} is removed in {REMOVED_IN}; use {new}", highlight=False)


def format_option(choices: Sequence[Format], default: Format, aliases: dict[str, Format] | None = None) -> Any:
    """`--format` limited to `choices`; `aliases` are old values still read (with a note)."""
    names = [c.value for c in choices]
    old = aliases or {}

    def check(value: str) -> str:
        if value in old:
            deprecated(f"--format {value}", f"--format {old[value].value}")
            return old[value].value
        if value not in names:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(names)}")
        return value

    return typer.Option(
        "--format",
        callback=check,
        metavar="[" + "|".join(names) + "]",
        help=f"Output format: {', '.join(names)} (default {default.value}).",
        show_default=False,
    )


def secret_file(value: Path | None) -> Path | None:
    """A path option's check for a file that holds secrets (a keyring, settings): click's
    `exists=True` quotes the value when it names no file, and a document pasted in its place
    (`--keyring "$FACEGATE_KEYRING"`) would be printed whole."""
    if value is not None and not names_one(value.is_file):
        raise typer.BadParameter("names no file (the value is not shown: it may be the document itself)")
    return value


def out_option(what: str = "the output") -> Any:
    return typer.Option("--out", dir_okay=False, help=f"Write {what} to this file instead of stdout.")


def json_text(data: object) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n"


def emit(
    fmt: str,
    data: object,
    tables: Callable[[], Iterable[RenderableType]],
    out: Path | None = None,
    renderers: dict[str, Callable[[], str]] | None = None,
) -> None:
    """Print `data` in `fmt` to stdout or `out`: json is `data` itself, table is what `tables`
    renders, other formats come from `renderers`."""
    if fmt == Format.TABLE:
        if out is None:
            for table in tables():
                console.print(table, highlight=False)
            return
        with out.open("w", encoding="utf-8") as handle:
            file_console = Console(file=handle, width=140, color_system=None, force_terminal=False)
            for table in tables():
                file_console.print(table, highlight=False)
        errors.print(f"written to {out}", highlight=False)
        return
    text = json_text(data) if fmt == Format.JSON else (renderers or {})[fmt]()
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text, encoding="utf-8")
        errors.print(f"written to {out}", highlight=False)
