"""What every command shares: loading settings with a readable error, and the console."""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from gateway.core.text import visible
from gateway.settings import CONFIG_FILE_VARIABLE, Settings

# Piped output (CI logs, tests) gets a fixed width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def plain(value: object) -> str:
    """Text a record carries (a tenant, vendor or camera chose it), printed as itself: characters
    that are not printable (line breaks, escapes, direction and other format marks) written as
    Python escapes them, rich markup escaped."""
    return escape(visible(value))


def unknown_key(key: str) -> str:
    """What to say of a key in the config file that names no setting."""
    file = os.environ.get(CONFIG_FILE_VARIABLE, "the config file")
    said = f"{file}: no setting is named {key!r}"
    if key.lower().startswith("facegate_") and key[9:].lower() in Settings.model_fields:
        return f"{said}; write it without the FACEGATE_ prefix, in lower case: {key[9:].lower()!r}"
    return f"{said} (keys are the FACEGATE_ variables' names without the prefix, in lower case)"


def load_settings(**overrides: object) -> Settings:
    """Settings from FACEGATE_* and the config file; exits 2 naming each bad field."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":  # a key of the config file no setting has
                errors.print(f"[red]configuration error[/red] {plain(unknown_key(where))}")
            else:
                errors.print(f"[red]configuration error[/red] FACEGATE_{where.upper()}: {err['msg']}")
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        errors.print(f"[red]configuration error[/red] {exc}")
        raise typer.Exit(2) from None
