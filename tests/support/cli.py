"""Walking the CLI's command tree; running a command that configures logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path (the group's own first), e.g. ("audit", "verify")."""
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():  # typer vendors click: duck-type groups
        paths += command_paths(sub, (*prefix, name))
    return paths


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Logging as it was before a test that runs a command configuring it in this process
    (`facegate run` replaces the root logger's handlers, with one writing to CliRunner's stream)."""
    root = logging.getLogger()
    handlers, levels = list(root.handlers), {name: logging.getLogger(name).level for name in _loggers()}
    root_level = root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)
    for name in _loggers():
        logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))


def _loggers() -> list[str]:
    return [name for name, logger in logging.root.manager.loggerDict.items() if isinstance(logger, logging.Logger)]
