"""Every command answers --help, and the commands the operations guide tells an operator to run
exist with the options it gives them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from gateway.cli import app
from tests.support.cli import command_paths

ROOT = Path(__file__).resolve().parents[3]
OPERATIONS = ROOT / "docs" / "operations.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_command_has_help() -> None:
    paths = command_paths(typer.main.get_command(app))
    assert {("broker",), ("topics", "create"), ("topics", "describe"), ("schemas", "check")} <= set(paths)
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output, path


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("facegate ")


def test_bad_configuration_exits_2_naming_the_variable() -> None:
    result = CliRunner().invoke(app, ["topics", "describe"], env={"FACEGATE_PARTITIONS": "zero"})
    assert result.exit_code == 2
    assert "FACEGATE_PARTITIONS" in result.output


def _invocations(text: str) -> list[str]:
    """`facegate ...` in the code spans and code blocks of a page, each up to a pipe, `&` or `;`."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE))
    lines = [line for code in blocks + spans for line in code.replace("\\\n", " ").splitlines()]
    called = r"(?:^|[|&;(]) *facegate ([^|&;`]+)"  # where a shell runs it (not `docker build -t facegate .`)
    return [m.split("#")[0] for line in lines for m in re.findall(called, line.strip())]


def test_the_runbooks_commands_are_read_from_the_operations_guide() -> None:
    assert any(i.startswith("audit tail --format json") for i in _invocations(OPERATIONS.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_command_the_docs_name_exists_with_its_options(page: Path) -> None:
    """The runbooks (operations.md, "Alerts") are read at 3 a.m.: a command or flag that does not
    exist there costs most. Placeholders (`facegate COMMAND --help`, `facegate audit ...`) pass."""
    root: Any = typer.main.get_command(app)
    for invocation in _invocations(page.read_text()):
        node, words = root, invocation.split()
        if not words or words[0] == "..." or words[0].isupper():
            continue
        words = [w for w in words if w != "..."]
        root_options = {opt for param in root.params for opt in param.opts}
        while words and words[0] in root_options:  # `facegate --config FILE run`
            del words[:2]
        if not words:
            continue  # the root's options alone
        while words and hasattr(node, "commands") and words[0] in node.commands:
            node = node.commands[words.pop(0)]
        unknown = hasattr(node, "commands") and bool(words) and not words[0].startswith("-")
        assert node is not root and not unknown, f"no such command: facegate {invocation}"  # a group alone is named
        options = {opt for param in node.params for opt in (*param.opts, *param.secondary_opts)}
        named = {w.strip("[]()").split("=")[0] for w in words if w.strip("[(").startswith("-")}
        assert named <= options, f"facegate {invocation}: {sorted(named - options)}"
        if len(named) >= 2:  # an example to copy, not a flag named in passing: nothing required left out
            required = {param.opts[0] for param in node.params if param.required and param.opts[0].startswith("-")}
            given = {o for param in node.params if set(param.opts) & named for o in param.opts}
            assert required <= given, f"facegate {invocation}: without {sorted(required - given)}"
