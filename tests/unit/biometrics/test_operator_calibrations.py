"""Operator calibrations (issue 16): a folder of the operator's own models beside the shipped
ones, refused at start-up when a file is bad or conflicting; versioned, so that an enrolled
template made under another calibration of its model is never matched silently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.contract.models import AuditRecord, EnrolledTemplate
from gateway.core.biometrics.calibration import Calibration, CalibrationError, Sampling, calibrate
from gateway.core.biometrics.protection import Protector
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.policy.reasons import Reason
from gateway.files.calibrations import CalibrationFileError, calibrations, operator_calibrations, save, shipped
from gateway.settings import Settings
from gateway.shell.runtime import StartupError, build_runtime
from tests.support.core import CODEC, NAMES, context
from tests.support.lifecycle import apply, consent, decide_share, enrollment, give, new_state, on, record, share_request

RNG = np.random.default_rng(3)


def _people(n: int, dim: int = 32, shots: int = 4, offset: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings like a real model's: not zero-centred (a common offset), a few shots per person."""
    centre = np.full(dim, offset / np.sqrt(dim), dtype=np.float32)
    people = RNG.standard_normal((n, dim)).astype(np.float32) * 0.35
    x = np.repeat(people, shots, axis=0) + RNG.standard_normal((n * shots, dim)).astype(np.float32) * 0.08 + centre
    names = np.repeat(np.array([f"person {i:03d}" for i in range(n)]), shots)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), names


def _operator_file(folder: Path, model: str = "vendor-arcface-32", **changes: object) -> Path:
    x, names = _people(120)
    calibration = calibrate(model, x, names).model_copy(update=changes)
    folder.mkdir(exist_ok=True)
    path = folder / f"{model}.json"
    save(calibration, path)
    return path


def test_string_labels_calibrate_like_integer_ones() -> None:
    x, names = _people(120)
    ids = np.unique(names, return_inverse=True)[1]
    by_name, by_id = (
        calibrate("m", x, names, sampling=Sampling(key_seed=1)),
        calibrate("m", x, ids, sampling=Sampling(key_seed=1)),
    )
    assert by_name.thresholds == by_id.thresholds and by_name.mean == by_id.mean


def test_too_little_data_says_how_much_is_needed() -> None:
    x, names = _people(6, shots=2)
    with pytest.raises(CalibrationError, match=r"need at least 100000"):
        calibrate("m", x, names)


def test_the_cli_calibrates_from_person_names(tmp_path: Path) -> None:
    x, names = _people(120)
    np.savez(tmp_path / "emb.npz", embeddings=x, labels=names)
    out = tmp_path / "m.json"
    result = CliRunner().invoke(
        app, ["calibrate", "--embeddings", str(tmp_path / "emb.npz"), "--model", "vendor-m", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert Calibration.model_validate_json(out.read_text()).template_model == "vendor-m"


def test_the_operators_folder_is_loaded_beside_the_shipped_calibrations(tmp_path: Path) -> None:
    _operator_file(tmp_path / "cal")
    loaded = calibrations(tmp_path / "cal")
    assert set(loaded) == {*shipped(), "vendor-arcface-32"}
    assert calibrations(None) == shipped()


def test_bad_or_conflicting_files_are_refused_naming_them(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    path = _operator_file(folder)
    (folder / "copy.json").write_text(path.read_text())
    with pytest.raises(
        CalibrationFileError,
        match=r"copy\.json and .*vendor-arcface-32\.json both calibrate|vendor-arcface-32\.json and .*copy\.json both calibrate",
    ):
        operator_calibrations(folder)
    (folder / "copy.json").unlink()
    (folder / "broken.json").write_text(json.dumps({"template_model": "x", "dim": 3, "mean": [0.1]}))
    with pytest.raises(CalibrationFileError, match=r"broken\.json: .*"):
        operator_calibrations(folder)
    (folder / "broken.json").write_text("{not json")
    with pytest.raises(CalibrationFileError, match=r"broken\.json"):
        operator_calibrations(folder)
    (folder / "broken.json").unlink()
    _operator_file(folder, "synthetic-512")  # a shipped model's name
    with pytest.raises(CalibrationFileError, match=r"'synthetic-512' is shipped with FaceGate"):
        operator_calibrations(folder)
    with pytest.raises(CalibrationFileError, match="no such folder"):
        operator_calibrations(tmp_path / "missing")


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"mean": "NaN"}, "not finite"),
        ({"mean": "Infinity"}, "not finite"),
        ({"mean": "1e39"}, "not finite"),  # beyond float32: centres every template to zero
        ({"mean": "2"}, "longer than a mean of unit-length templates"),  # made from raw lengths
        ({"hashes": 12}, "whole number of bytes"),
        ({"hashes": 2**28}, "at most 4096 hashes"),  # a projection of gigabytes: every enrollment failed
        ({"q": 2**20}, "q of at most 16"),
        ({"q": 1}, "q >= 2"),
        ({"thresholds": {"clean": 0.0, "masked": 0.0}}, "above chance"),
        ({"thresholds": {"clean": 0.7, "masked": 1.5}}, "Input should be less than or equal to 1"),
        (
            {"stricter": [{"far": 1e-6, "clean": 0.9, "masked": 0.9}, {"far": 1e-5, "clean": 0.95, "masked": 0.95}]},
            "below",
        ),
        ({"stricter": [{"far": 1e-5, "clean": 0.51, "masked": 0.99}]}, "looser"),
        ({"stricter": [{"far": 0.5, "clean": 0.99, "masked": 0.99}]}, "below"),
    ],
)
def test_a_calibration_that_would_fail_or_match_strangers_is_refused_at_start_up(
    tmp_path: Path, edit: dict[str, object], problem: str
) -> None:
    data = json.loads(_operator_file(tmp_path / "cal").read_text())
    for field, value in edit.items():
        if field == "mean":
            data["mean"][0] = "@"
        else:
            data[field] = value
    text = json.dumps(data).replace('"@"', str(edit.get("mean", "")))
    (tmp_path / "cal" / "vendor-arcface-32.json").write_text(text)
    with pytest.raises(CalibrationFileError, match=rf"vendor-arcface-32\.json: .*{problem}"):
        operator_calibrations(tmp_path / "cal")


def test_calibrate_refuses_rows_that_are_not_finite_naming_the_row(tmp_path: Path) -> None:
    x, names = _people(120)
    x[17] = np.nan  # a failed detection: the mean would be NaN and every code the same
    np.savez(tmp_path / "emb.npz", embeddings=x, labels=names)
    out = tmp_path / "m.json"
    args = ["calibrate", "--embeddings", str(tmp_path / "emb.npz"), "--model", "vendor-m", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "row 17" in result.output and not out.exists()
    zero = CliRunner().invoke(app, [*args, "--far", "0"])
    assert zero.exit_code == 2 and "--far" in zero.output and not out.exists()


def test_calibrate_refuses_a_missing_out_folder_and_masked_flags_that_are_not_booleans(tmp_path: Path) -> None:
    x, names = _people(120)
    np.savez(tmp_path / "emb.npz", embeddings=x, labels=names)
    args = ["calibrate", "--embeddings", str(tmp_path / "emb.npz"), "--model", "vendor-m"]
    missing = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "no" / "m.json")])
    assert missing.exit_code == 2 and "no such folder" in missing.output  # before measuring, no traceback
    out = tmp_path / "m.json"
    for flags in (np.array(["no"] * len(x)), np.full(len(x), 2)):  # read as booleans: every row masked
        np.savez(tmp_path / "emb.npz", embeddings=x, labels=names, masked=flags)
        result = CliRunner().invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 1 and "'masked' holds" in result.output and not out.exists()
    for flags in (np.zeros(len(x), dtype=np.int8), np.zeros(len(x))):  # 0 and 1, as integers or floats
        np.savez(tmp_path / "emb.npz", embeddings=x, labels=names, masked=flags)
        assert CliRunner().invoke(app, [*args, "--out", str(out)]).exit_code == 0 and out.exists()
        out.unlink()


def test_a_calibration_of_0_3_0_centres_templates_as_they_come_and_the_start_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its mean may have been measured at the model's own lengths (0.3.0's `calibrate` did not scale
    embeddings): scaled templates would be centred on a mean of another scale, and every stranger
    matched. So a file without `unit_length` protects as 0.3.0 did, a mean longer than 1 included."""
    x, names = _people(120)
    measured_raw = calibrate("vendor-m", x * np.float32(20), names).model_copy(
        update={"unit_length": False, "mean": (calibrate("vendor-m", x, names).mean_vector * 20).tolist()}
    )
    data = json.loads(measured_raw.model_dump_json())
    del data["unit_length"]
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "vendor-m.json").write_text(json.dumps(data))
    loaded = operator_calibrations(tmp_path / "cal")["vendor-m"]
    assert not loaded.unit_length and float(np.linalg.norm(loaded.mean_vector)) > 1
    raw = x[:8] * np.float32(20)
    centred = raw - loaded.mean_vector
    assert np.array_equal(
        loaded.protector(b"k" * 32, 1).protect(raw),
        Protector(b"k" * 32, 1, "vendor-m", np.zeros(32, np.float32), loaded.scheme).protect(centred),
    )
    with caplog.at_level("WARNING"):
        build_runtime(Settings(calibration_dir=tmp_path / "cal"))
    assert "vendor-m was made by a release that did not scale embeddings" in caplog.text


def test_the_worker_refuses_to_start_with_a_bad_calibration_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    folder.mkdir()
    (folder / "bad.json").write_text("[]")
    with pytest.raises(StartupError, match=r"bad\.json"):
        build_runtime(Settings(calibration_dir=folder, cache_dir=tmp_path / "cache"))
    (folder / "bad.json").unlink()
    _operator_file(folder)
    runtime = build_runtime(Settings(calibration_dir=folder, cache_dir=tmp_path / "cache"))
    assert "vendor-arcface-32" in runtime.state.calibrations


def test_an_enrolled_template_records_its_calibration_and_a_new_one_asks_for_re_enrollment() -> None:
    state = new_state()
    give(state, consent())
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment())), s)
    [stored] = [o for o in s.result.outputs if o.topic == NAMES.enrolled]
    template = CODEC.decode(stored.value or b"", EnrolledTemplate)
    current = state.calibrations["synthetic-512"]
    assert template.calibration_version == current.label and current.label.startswith("1-")

    # The operator recalibrates the model: another centring, version 2. The old template is not
    # matched (its code was made under the old centring) nor shared, but kept for the sweeps.
    recalibrated = current.model_copy(update={"version": 2, "mean": [v + 0.01 for v in current.mean]})
    state.calibrations = {**state.calibrations, "synthetic-512": recalibrated}
    state.apply_enrollment(stored.key.decode(), stored.value)
    assert not state.enrollments["acme/s1"].current
    assert state.enrolled_count("acme") == 0 and state.needing_reenrollment() == {"synthetic-512": 1}

    audit, _ = decide_share(state, share_request())
    assert audit.reason_codes == [Reason.CALIBRATION_CHANGED]

    # Re-enrolling under the new calibration makes the subject matchable again.
    s = context(state, seen=frozenset())
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment()), offset=1), s)
    apply(state, s.result)
    assert state.enrollments["acme/s1"].current and state.enrolled_count("acme") == 1
    assert not [a for a in on(s.result, NAMES.audit) if CODEC.decode(a.value or b"", AuditRecord).decision == "BLOCKED"]
    assert state.needing_reenrollment() == {}, "counted as it changes, not walked"
    state.apply_enrollment(stored.key.decode(), stored.value)  # the old template once more: stale again
    assert state.needing_reenrollment() == {"synthetic-512": 1}
    state.apply_enrollment(stored.key.decode(), None)  # erased
    assert state.needing_reenrollment() == {} and "acme/s1" not in state.enrollments


def test_a_threshold_only_recalibration_keeps_enrolled_templates() -> None:
    current = shipped()["synthetic-512"]
    moved = current.model_copy(update={"thresholds": current.thresholds.model_copy(update={"clean": 0.99})})
    assert moved.label == current.label


def test_templates_written_before_versions_count_as_the_first_calibration() -> None:
    state = new_state()
    give(state, consent())
    s = context(state)
    enroll(record(NAMES.enroll("acme"), CODEC.encode(enrollment())), s)
    [stored] = [o for o in s.result.outputs if o.topic == NAMES.enrolled]
    legacy = CODEC.decode(stored.value or b"", EnrolledTemplate).model_copy(update={"calibration_version": None})
    state.apply_enrollment(stored.key.decode(), CODEC.encode(legacy))
    assert state.enrollments["acme/s1"].current and state.enrolled_count("acme") == 1
