"""`facegate eval protection` and `facegate calibrate` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core.biometrics.calibration import Calibration
from gateway.core.biometrics.synthetic import SYNTHETIC_128_OFFSET, Population
from tests.support.leaks import LeakFinder


def test_eval_protection_prints_and_writes_the_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "protection", "--people", "800"])
    assert result.exit_code == 0, result.output
    for label in ("TAR @ FAR 1e-4", "masked protected", "D_sys", "renewability"):
        assert label in result.output
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "protection", "--people", "800", "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())[0]
    assert report["people"] == 800 and 0 <= report["unlinkability_d_sys"] <= 1


def _labelled(tmp_path: Path) -> tuple[list[str], Path]:
    """A calibrate command line over 1,200 people's two captures each, and the file it writes."""
    population = Population.create(SYNTHETIC_128_OFFSET, 1200, seed=3)
    everyone = np.arange(1200)
    data = tmp_path / "labelled.npz"
    faces = np.concatenate([population.captures(everyone, 0), population.captures(everyone, 1)])
    np.savez(data, embeddings=faces, labels=np.r_[everyone, everyone])
    out = tmp_path / "cal.json"
    return ["calibrate", "--embeddings", str(data), "--model", "vendor-128", "--far", "1e-3", "--out", str(out)], out


def test_calibrate_from_labelled_embeddings(tmp_path: Path) -> None:
    args, out = _labelled(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    calibration = Calibration.model_validate_json(out.read_text())
    assert calibration.template_model == "vendor-128" and calibration.dim == 128 and calibration.version == 1
    assert "holds up to" in result.output


def test_calibrate_takes_a_version_and_a_sampling_size(tmp_path: Path) -> None:
    base, out = _labelled(tmp_path)
    result = CliRunner().invoke(app, [*base, "--version", "3", "--max-rows", "400"])
    assert result.exit_code == 0, result.output
    calibration = Calibration.model_validate_json(out.read_text())
    assert calibration.version == 3 and 3 * 400 * 390 < calibration.impostor_pairs < 3 * 400 * 400  # 3 keys
    assert f"holds up to {calibration.measured_gallery(1e-3):,} enrolled" in result.output


def test_calibrate_reports_bad_input(tmp_path: Path) -> None:
    data = tmp_path / "bad.npz"
    np.savez(data, embeddings=np.zeros((3, 8), dtype=np.float32))
    result = CliRunner().invoke(
        app, ["calibrate", "--embeddings", str(data), "--model", "m", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "cannot calibrate" in result.output


def test_calibrate_never_prints_an_embedding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Embeddings saved as text (a row per string, as a CSV export gives them): numpy's conversion
    # error quoted a whole row, one person's embedding, and the command printed it.
    population = Population.create(SYNTHETIC_128_OFFSET, 20, seed=5)
    rows = np.concatenate([population.captures(np.arange(20), 0), population.captures(np.arange(20), 1)])
    finder = LeakFinder([row.astype("<f4").tobytes() for row in rows])
    labels = np.r_[np.arange(20), np.arange(20)]
    written = {
        "a row per string": np.array([",".join(f"{v:.6f}" for v in row) for row in rows]),
        "a string per value": np.char.mod("%.6f", rows),
    }
    args = ["calibrate", "--model", "vendor-128", "--out", str(tmp_path / "cal.json"), "--embeddings"]
    for how, embeddings in written.items():
        np.savez(tmp_path / "text.npz", embeddings=embeddings, labels=labels)
        result = CliRunner().invoke(app, [*args, str(tmp_path / "text.npz")])
        assert result.exit_code == 1 and "'embeddings' holds text, not numbers" in result.output, (how, result.output)
        assert finder.leaks({how: result.output.encode()}) == []
    # Any other error of numpy's is named by its type alone: it may quote a value.
    np.savez(tmp_path / "numbers.npz", embeddings=rows, labels=labels)

    def quoting(*args: object, **kwargs: object) -> None:
        raise ValueError(f"could not convert: {rows[0].tolist()}")

    monkeypatch.setattr("gateway.cli.calibrate.calibrate", quoting)
    result = CliRunner().invoke(app, [*args, str(tmp_path / "numbers.npz")])
    assert result.exit_code == 1 and "(ValueError)" in result.output
    assert finder.leaks({"numpy's error": result.output.encode()}) == []
