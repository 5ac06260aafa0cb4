"""`facegate run`: provision what is missing, then run the worker until SIGTERM."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from gateway.cli.console import console, errors, load_settings
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.shell.runtime import DEVELOPMENT_WARNING, StartupError, build_runtime


def run(
    provision: Annotated[bool, typer.Option(help="Create missing contract topics first (needs admin rights).")] = True,
    loglevel: Annotated[str, typer.Option(help="Worker log level.")] = "info",
) -> None:
    """Run the governance worker: every capture on faces.raw gets one decision, audited."""
    settings = load_settings()
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    try:
        runtime = build_runtime(settings)
    except StartupError as exc:
        errors.print(f"[red]facegate run refused to start:[/red] {exc}")
        raise typer.Exit(2) from None
    if runtime.development:
        errors.print(f"[bold yellow]{DEVELOPMENT_WARNING}[/bold yellow]")
    if provision:
        try:
            ensure_gateway_topics(settings, runtime.tenants)
        except Exception as exc:  # the admin client raises many kinds; the message is what matters
            errors.print(f"[red]cannot provision topics on {settings.bootstrap_servers}:[/red] {exc}")
            raise typer.Exit(1) from None
    from gateway.shell.process_signals import GatewayWorker
    from gateway.shell.worker import Worker

    worker = Worker(runtime)
    console.print(
        f"facegate worker {settings.app_id} on {settings.bootstrap_servers}; "
        f"web on {settings.web_host}:{settings.web_port} (/healthz /readyz /metrics)"
    )
    GatewayWorker(worker.app, loglevel=loglevel, quiet=True).execute_from_commandline()
