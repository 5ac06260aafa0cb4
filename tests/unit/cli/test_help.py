"""Every command answers --help."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from gateway.cli import app
from tests.support.cli import command_paths


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
