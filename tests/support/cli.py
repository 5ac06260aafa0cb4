"""Walking the CLI's command tree."""

from __future__ import annotations

from typing import Any


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path (the group's own first), e.g. ("audit", "verify")."""
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():  # typer vendors click: duck-type groups
        paths += command_paths(sub, (*prefix, name))
    return paths
