"""Calibrations as files: those shipped with FaceGate (calibrations/*.json beside this module),
the operator's own (a folder named by FACEGATE_CALIBRATION_DIR, loaded beside them), and those
`facegate calibrate` writes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from gateway.core.biometrics.calibration import Calibration
from gateway.errors import FaceGateError

SHIPPED = Path(__file__).parent / "calibrations"


class CalibrationFileError(FaceGateError, ValueError):
    """A calibration file that cannot be used: unreadable, invalid, or naming a model twice."""


def save(calibration: Calibration, path: Path) -> None:
    path.write_text(json.dumps(calibration.model_dump(), indent=1) + "\n")


def read(path: Path) -> Calibration:
    """One calibration file; the error names the file and what is wrong."""
    try:
        return Calibration.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise CalibrationFileError(f"calibration {path}: cannot be read ({exc.strerror})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise CalibrationFileError(f"calibration {path}: {problems}") from None


def shipped() -> dict[str, Calibration]:
    """Calibrations shipped with FaceGate, by template_model: a dict of one's own (a state's models
    are added to it or replaced in it), the files read once."""
    return dict(_shipped())


@cache
def _shipped() -> dict[str, Calibration]:
    found = {}
    for path in sorted(SHIPPED.glob("*.json")):
        calibration = read(path)
        found[calibration.template_model] = calibration
    return found


def operator_calibrations(folder: Path) -> dict[str, Calibration]:
    """The operator's calibrations: every *.json in `folder`, by template_model. Refused, naming
    the files: a folder that is missing or holds none, an invalid file, two files for one model,
    and a file for a model FaceGate ships (a shipped model's calibration is not replaced)."""
    if not folder.is_dir():
        raise CalibrationFileError(f"calibration folder {folder}: no such folder")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise CalibrationFileError(f"calibration folder {folder}: no *.json calibration files")
    found: dict[str, Calibration] = {}
    where: dict[str, Path] = {}
    ours = shipped()
    for path in paths:
        calibration = read(path)
        model = calibration.template_model
        if model in ours:
            raise CalibrationFileError(
                f"calibration {path}: template model {model!r} is shipped with FaceGate; calibrate your model "
                "under a name of its own"
            )
        if model in found:
            raise CalibrationFileError(
                f"calibrations {where[model]} and {path} both calibrate template model {model!r}; keep one "
                "(raise its version when you recalibrate)"
            )
        found[model], where[model] = calibration, path
    return found


def calibrations(folder: Path | None = None) -> dict[str, Calibration]:
    """What a worker matches with: the shipped calibrations and, with a folder, the operator's."""
    return {**shipped(), **(operator_calibrations(folder) if folder is not None else {})}
