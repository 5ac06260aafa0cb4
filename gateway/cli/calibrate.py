"""`facegate calibrate`: build a template model's calibration from labelled embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from gateway.cli.console import console, errors
from gateway.cli.output import Exit
from gateway.core.biometrics.calibration import (
    DEFAULT_FAR,
    CalibrationError,
    Sampling,
    calibrate,
    calibrate_synthetic,
)
from gateway.core.biometrics.synthetic import MODELS
from gateway.files.calibrations import save


def calibrate_command(
    out: Annotated[Path, typer.Option(help="Where to write the calibration JSON.", dir_okay=False)],
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="An .npz: 'embeddings' (n x dim float32), 'labels' (person ids), optional 'masked' (bools).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="The template_model name captures will carry.")] = None,
    far: Annotated[float, typer.Option(help="False-accept rate the thresholds are set for.")] = DEFAULT_FAR,
    max_rows: Annotated[
        int,
        typer.Option(
            min=10,
            help="Clean rows used as probes, and as many as gallery (x3 keys): 3000 gives 27M impostor pairs, "
            "enough to measure down to FAR 1e-6; 10000, 300M pairs, to 1e-7 (memory and time grow with its square).",
        ),
    ] = Sampling.max_rows,
    version: Annotated[
        int, typer.Option(min=1, help="The calibration's version: raise it each time you recalibrate the model.")
    ] = 1,
    synthetic: Annotated[
        str | None, typer.Option(help=f"Instead of a file, calibrate a synthetic model: {', '.join(MODELS)}.")
    ] = None,
) -> None:
    """Measure centring and thresholds for one template model and write them as data."""
    try:
        if synthetic is not None:
            if synthetic not in MODELS:
                errors.print(f"[red]unknown synthetic model {synthetic!r}[/red]")
                raise typer.Exit(Exit.USAGE)
            result = calibrate_synthetic(MODELS[synthetic])
        else:
            if embeddings is None or model is None:
                errors.print("[red]give --embeddings and --model, or --synthetic[/red]")
                raise typer.Exit(Exit.USAGE)
            if not 0 < far < 1:  # 0 would ask for infinitely many impostor pairs
                errors.print(f"[red]--far must lie between 0 and 1 (exclusive), not {far:g}[/red]")
                raise typer.Exit(Exit.USAGE)
            with np.load(embeddings) as data:
                masked = data.get("masked")
                result = calibrate(
                    model, data["embeddings"], data["labels"], masked, Sampling(far=far, max_rows=max_rows),
                    source=str(embeddings.name),
                )  # fmt: skip
    except (CalibrationError, KeyError, ValueError) as exc:
        errors.print(f"[red]cannot calibrate:[/red] {exc}")
        raise typer.Exit(Exit.FINDING) from None
    result = result.model_copy(update={"version": version})
    save(result, out)
    console.print(
        f"{result.template_model} version {result.version}: {result.dim}-d, thresholds clean "
        f"{result.thresholds.clean:.4f} / masked {result.thresholds.masked:.4f} at FAR {result.far_target:g} "
        f"from {result.impostor_pairs:,} impostor pairs -> {out}"
    )
    # 1:N search asks for far / n per comparison; below the strictest measured rate it is extrapolated.
    beyond = (
        "larger galleries get extrapolated, stricter thresholds; measuring them (more labelled embeddings, a "
        "larger --max-rows) costs fewer identifications"
        if result.extrapolates
        else "one level only: larger galleries meet no target; calibrate with more labelled embeddings and a "
        "larger --max-rows"
    )
    console.print(
        f"measured down to FAR {result.strictest_far:g} per comparison: a false-accept target of "
        f"{result.far_target:g} per capture holds up to {result.measured_gallery(result.far_target):,} "
        f"enrolled subjects in one tenant with measured thresholds; {beyond}"
    )
