"""The `facegate` command line. Its conventions (--format, --out, exit codes, roles): docs/cli.md
and gateway/cli/output.py."""

from __future__ import annotations

import logging
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
    report,
    run,
    schemas,
    simulate,
    subject,
    topics,
)
from gateway.cli.output import exit_codes, secret_file
from gateway.kafka import headers
from gateway.logs import configure
from gateway.settings import CONFIG_FILE_VARIABLE, LogFormat, Settings

app = typer.Typer(
    name="facegate",
    help="FaceGate: consent, template protection and a signed audit for biometric event streams on Kafka.",
    epilog="Data goes to stdout (--format, --out FILE), notes and errors to stderr. "
    + exit_codes()
    + " Every command and the role that runs it: docs/cli.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(name="broker", epilog=exit_codes("the broker failed or exited") + " Role: development.")(broker.broker)
app.command(
    name="run",
    epilog="Role: gateway (the platform operator's deployment). Logs go to stderr as text or, with "
    "FACEGATE_LOG_FORMAT=json, one JSON object per line (Faust's own too). "
    + exit_codes(None)
    + " 0 once stopped by SIGTERM; 2 also when it refuses to start (keys, policies); 3 when the topics "
    "cannot be provisioned; 70 after an unexpected error or a write Kafka refused for good, without committing "
    "the batch: restart it, the batch is decided again.",
)(run.run)
app.command(name="simulate", epilog=exit_codes(None) + " Role: development (vendor and tenant writes).")(
    simulate.simulate
)
app.command(name="demo", epilog=exit_codes("a decision differs from the rules, or the demo failed") + " Role: any.")(
    demo.demo
)
app.add_typer(topics.app, name="topics")
app.add_typer(schemas.app, name="schemas")
app.add_typer(evaluate.app, name="eval")
app.command(name="calibrate", epilog=exit_codes("the input was refused") + " Role: platform operator (offline).")(
    calibrate.calibrate_command
)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(consent.app, name="consent")
app.add_typer(acl.app, name="acl")
app.add_typer(subject.app, name="subject")
app.add_typer(report.app, name="report")


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
            help=f"YAML settings file (keys: setting names without FACEGATE_, in lower case, e.g. partitions: 6). "
            f"Also {CONFIG_FILE_VARIABLE}.",
            callback=secret_file,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Every command reads Kafka's address from FACEGATE_BOOTSTRAP_SERVERS (default 127.0.0.1:9092)."""
    if config is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(config)
    headers.install()  # before any command reads Kafka: a header key that is not UTF-8 is not fatal
    _configure_logging()


def _configure_logging() -> None:
    """FACEGATE_LOG_FORMAT=json: the CLI's own log lines (warnings and up, from the Kafka clients
    too) are JSON objects on stderr. Text keeps Python's default. Bad settings are reported by
    the command that loads them."""
    try:
        log_format = Settings().log_format
    except Exception:
        return
    if log_format is LogFormat.JSON:
        configure(log_format, logging.WARNING)


def main() -> None:
    app()
