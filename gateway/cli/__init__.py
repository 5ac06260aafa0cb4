"""The `facegate` command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gateway import __version__
from gateway.cli import (
    acl,
    audit,
    broker,
    calibrate,
    consent,
    demo,
    evaluate,
    keys,
    run,
    schemas,
    simulate,
    subject,
    topics,
)
from gateway.settings import CONFIG_FILE_VARIABLE

app = typer.Typer(
    name="facegate",
    help="FaceGate: consent, template protection and a signed audit for biometric event streams on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(name="broker")(broker.broker)
app.command(name="run")(run.run)
app.command(name="simulate")(simulate.simulate)
app.command(name="demo")(demo.demo)
app.add_typer(topics.app, name="topics")
app.add_typer(schemas.app, name="schemas")
app.add_typer(evaluate.app, name="eval")
app.command(name="calibrate")(calibrate.calibrate_command)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(consent.app, name="consent")
app.add_typer(acl.app, name="acl")
app.add_typer(subject.app, name="subject")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"facegate {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=f"YAML settings file (keys: FACEGATE_* names in lower case). Also {CONFIG_FILE_VARIABLE}.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Every command reads Kafka's address from FACEGATE_BOOTSTRAP_SERVERS (default 127.0.0.1:9092)."""
    if config is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(config)


def main() -> None:
    app()
