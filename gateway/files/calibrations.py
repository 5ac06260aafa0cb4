"""Calibrations as files: those shipped with FaceGate (calibrations/*.json beside this module),
and those `facegate calibrate` writes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from gateway.core.biometrics.calibration import Calibration

SHIPPED = Path(__file__).parent / "calibrations"


def save(calibration: Calibration, path: Path) -> None:
    path.write_text(json.dumps(calibration.model_dump(), indent=1) + "\n")


@cache
def shipped() -> dict[str, Calibration]:
    """Calibrations shipped with FaceGate, by template_model."""
    found = {}
    for path in sorted(SHIPPED.glob("*.json")):
        calibration = Calibration.model_validate_json(path.read_text())
        found[calibration.template_model] = calibration
    return found
