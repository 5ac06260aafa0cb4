"""`facegate run`: provision what is missing, then run the worker until SIGTERM."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.console import console, errors, load_settings
from gateway.cli.output import Exit
from gateway.kafka.provisioning import ProvisioningError, check_topics, ensure_gateway_topics
from gateway.logs import configure, worker_logging_config
from gateway.shell.runtime import DEVELOPMENT_WARNING, StartupError, build_runtime


def run(
    provision: Annotated[bool, typer.Option(help="Create missing contract topics first (needs admin rights).")] = True,
    loglevel: Annotated[str, typer.Option(help="Worker log level.")] = "info",
) -> None:
    """Run the governance worker: every capture on a vendor's faces.raw.<vendor> gets one decision, audited."""
    settings = load_settings()
    configure(settings.log_format, loglevel)
    try:
        runtime = build_runtime(settings)
    except StartupError as exc:
        errors.print(f"[red]facegate run refused to start:[/red] {exc}")
        raise typer.Exit(Exit.USAGE) from None
    if (unread := runtime.unread()) is not None:
        errors.print(f"[red]facegate run refused to start:[/red] {unread}")
        raise typer.Exit(Exit.USAGE)
    if runtime.development:
        errors.print(f"[bold yellow]{DEVELOPMENT_WARNING}[/bold yellow]")
    try:
        if provision:
            ensure_gateway_topics(settings, runtime.tenants)
        # Co-partitioned topics of equal, unchanged counts; and, provisioned apart (the chart's Job),
        # all of them, or the worker fails late.
        missing = check_topics(settings, runtime.tenants)
    except ProvisioningError as exc:
        errors.print(f"[red]facegate run refused to start:[/red] {exc}")
        raise typer.Exit(Exit.USAGE) from None
    except Exception as exc:  # the admin client raises many kinds; the message is what matters
        errors.print(f"[red]cannot provision topics on {settings.bootstrap_servers}:[/red] {exc}")
        raise typer.Exit(Exit.KAFKA) from None
    if missing:
        listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        errors.print(
            f"[red]facegate run refused to start:[/red] {len(missing)} topic(s) missing ({listed}): "
            "run `facegate topics create` with these settings first"
        )
        raise typer.Exit(Exit.KAFKA)
    from gateway.shell.heap import FULL_PASSES
    from gateway.shell.process_signals import GatewayWorker
    from gateway.shell.worker import Worker

    worker = Worker(runtime)
    console.print(
        f"facegate worker {settings.app_id} on {settings.bootstrap_servers}; "
        f"web on {settings.web_host}:{settings.web_port} (/healthz /readyz /metrics)"
    )
    FULL_PASSES.install()  # this process's collector: what outlives a slow full pass is frozen (heap.py)
    GatewayWorker(
        worker.app,
        loglevel=loglevel,
        quiet=True,
        logging_config=worker_logging_config(settings.log_format, loglevel),
    ).execute_from_commandline()
