"""`facegate calibrate`: build a template model's calibration from labelled embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
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

_SHAPES = "'embeddings' n x dim numbers, 'labels' one id per row, 'masked' (optional) one bool per row"
_KINDS = {"U": "text", "S": "bytes", "O": "objects", "b": "booleans", "c": "complex numbers", "M": "dates"}


def _arrays(path: Path) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any] | None]:
    """The .npz's arrays, or an exit naming what is wrong with them and never a value: numpy,
    asked to read text as numbers, quotes it (a CSV export's row is a whole embedding)."""
    try:
        with np.load(path) as data:  # its errors are about the file: pickled or object arrays, a name missing
            vectors, labels, masked = data["embeddings"], data["labels"], data.get("masked")
    except (KeyError, ValueError) as exc:
        errors.print(f"[red]cannot calibrate:[/red] {exc}")
        raise typer.Exit(Exit.FINDING) from None
    if vectors.dtype.kind not in "iuf":
        held = _KINDS.get(vectors.dtype.kind, f"values of type {vectors.dtype.name}")
        errors.print(f"[red]cannot calibrate:[/red] {path.name}: 'embeddings' holds {held}, not numbers: {_SHAPES}")
        raise typer.Exit(Exit.FINDING)
    # Read as booleans, any non-empty text is true ("no" too): every row would count as masked.
    if (
        masked is not None
        and masked.dtype.kind != "b"
        and not (masked.dtype.kind in "iuf" and np.isin(masked, (0, 1)).all())
    ):
        held = _KINDS.get(masked.dtype.kind, "numbers other than 0 and 1")
        errors.print(f"[red]cannot calibrate:[/red] {path.name}: 'masked' holds {held}, not booleans: {_SHAPES}")
        raise typer.Exit(Exit.FINDING)
    return vectors, labels, masked


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
        int,
        typer.Option(
            min=1,
            help="The calibration's version, part of the name each enrolled template records: raising it asks "
            "every subject of the model to enroll again. A new mean or scheme does so by itself; new thresholds "
            "alone (another --far) keep every enrolled template.",
        ),
    ] = 1,
    synthetic: Annotated[
        str | None, typer.Option(help=f"Instead of a file, calibrate a synthetic model: {', '.join(MODELS)}.")
    ] = None,
) -> None:
    """Measure centring and thresholds for one template model and write them as data."""
    if not out.parent.is_dir():  # before measuring, which takes minutes at a large --max-rows
        errors.print(f"[red]--out: no such folder {out.parent}[/red]")
        raise typer.Exit(Exit.USAGE)
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
            vectors, labels, masked = _arrays(embeddings)
            result = calibrate(
                model, vectors, labels, masked, Sampling(far=far, max_rows=max_rows), source=str(embeddings.name)
            )
    except CalibrationError as exc:  # says which rows, never their values
        errors.print(f"[red]cannot calibrate:[/red] {exc}")
        raise typer.Exit(Exit.FINDING) from None
    except ValueError as exc:  # numpy's, which may quote a row: an embedding is biometric data
        errors.print(
            f"[red]cannot calibrate:[/red] the arrays are not what calibrate reads ({type(exc).__name__}): {_SHAPES}"
        )
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
