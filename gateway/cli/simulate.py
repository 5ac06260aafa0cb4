"""`facegate simulate`: realistic synthetic traffic for a running gateway.

Role: development and tests (it writes what vendors and tenants write: captures, cameras,
consents and enrollments), so on a secured cluster it needs both roles' ACLs or an admin's.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.access import Role, write
from gateway.cli.console import errors, load_settings
from gateway.cli.output import Format, emit, format_option, out_option
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Traffic, build_world
from gateway.sdk.simulator import publish_world, run_traffic


def simulate(
    rate: Annotated[float, typer.Option(min=0.1, help="Captures per second.")] = 50.0,
    duration: Annotated[float, typer.Option(min=0, help="Seconds to run (0: until --count).")] = 10.0,
    count: Annotated[int | None, typer.Option(help="Stop after this many captures.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world (its tenants, cameras and people).")] = 2026,
    traffic_seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the captures (default: a new one each run, printed; the worker drops a capture id "
            "it decided before, so a run repeating one decides nothing new)."
        ),
    ] = None,
    setup: Annotated[bool, typer.Option(help="Register cameras, consents and enrollments first.")] = True,
    format: Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)] = Format.TABLE,
    out: Annotated[Path | None, out_option("the counts sent")] = None,
) -> None:
    """Consenting customers, strangers, masks, repeat visitors, minors, the Ningbo sales office,
    a camera without signage, a toilet camera, and malformed records."""
    settings = load_settings()
    world = build_world(seed)
    if traffic_seed is None:
        traffic_seed = secrets.randbelow(10**9)
        errors.print(f"traffic seed {traffic_seed} (--traffic-seed {traffic_seed} sends these captures again)")

    traffic = Traffic(world, traffic_seed)

    async def go() -> dict[str, int]:
        async with FaceGateProducer(settings) as producer:
            if setup:
                await publish_world(producer, world)
            return dict(await run_traffic(producer, traffic, rate, duration or None, count))

    # Role: it writes what vendors and tenants write, so an admin's (or the platform operator's) ACLs.
    sent = write(settings, "simulate", Role.GATEWAY, f"{settings.topic_prefix}faces.raw.{world.vendors[0]}", go)

    def tables() -> list[Table]:
        table = Table("kind", "sent", title=f"captures sent to {settings.topic_prefix}faces.raw.<vendor>")
        for kind, n in sorted(sent.items()):
            table.add_row(kind, str(n))
        return [table]

    emit(format, dict(sorted(sent.items())), tables, out)
