"""What every command shares: loading settings with a readable error, and the console."""

from __future__ import annotations

import re
import sys

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from gateway.settings import Settings

# Piped output (CI logs, tests) gets a fixed width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


# Characters that move the cursor, end a line or turn text around: a record could forge lines.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain(value: object) -> str:
    """Text a record carries (a tenant, vendor or camera chose it), printed as itself: control and
    direction characters escaped as Python writes them, rich markup escaped."""
    return escape(_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(value)))


def load_settings(**overrides: object) -> Settings:
    """Settings from FACEGATE_* and the config file; exits 2 naming each bad field."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            errors.print(f"[red]configuration error[/red] FACEGATE_{where.upper()}: {err['msg']}")
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        errors.print(f"[red]configuration error[/red] {exc}")
        raise typer.Exit(2) from None
