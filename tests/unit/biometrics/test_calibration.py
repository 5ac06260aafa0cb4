"""Calibrations are data per model; thresholds hold their false-accept target on fresh data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gateway.core.biometrics.calibration import (
    Calibration,
    CalibrationError,
    Sampling,
    StricterThresholds,
    calibrate,
    threshold_for_far,
)
from gateway.core.biometrics.protection import all_pairs_agreement
from gateway.core.biometrics.synthetic import SYNTHETIC_128_OFFSET, SYNTHETIC_512, Population
from gateway.files.calibrations import shipped


def test_512_and_128_dimension_models_are_shipped() -> None:
    calibrations = shipped()
    assert calibrations["synthetic-512"].dim == 512
    assert calibrations["synthetic-128-offset"].dim == 128
    for calibration in calibrations.values():
        assert calibration.far_target == 1e-4 and calibration.impostor_pairs >= 1_000_000


def _impostor_accept_rate(calibration: Calibration, population: Population, key: bytes) -> float:
    people = len(population.identities)
    protector = calibration.protector(key, 1)
    probes = protector.protect(population.captures(np.arange(people // 2), 11))
    gallery = protector.protect(population.captures(np.arange(people // 2, people), 12))
    return float(np.mean(all_pairs_agreement(calibration.scheme, probes, gallery) > calibration.thresholds.clean))


@pytest.mark.parametrize("model", [SYNTHETIC_512, SYNTHETIC_128_OFFSET], ids=lambda m: m.name)
def test_shipped_threshold_holds_on_unseen_people_and_keys(model: object) -> None:
    calibration = shipped()[model.name]  # type: ignore[attr-defined]
    unseen = Population.create(model, 2400, seed=999)  # type: ignore[arg-type]
    rate = _impostor_accept_rate(calibration, unseen, b"k" * 32)
    assert rate <= 3 * calibration.far_target  # 1.44M pairs: sampling noise around 1e-4


def test_a_threshold_from_centred_data_matches_strangers_of_an_uncentred_model() -> None:
    # What DESIGN warns about: the 512-d model's settings applied to the 128-d offset model.
    offset_people = Population.create(SYNTHETIC_128_OFFSET, 600, seed=5)
    wrong = shipped()["synthetic-128-offset"].model_copy(
        update={"mean": [0.0] * 128, "thresholds": shipped()["synthetic-512"].thresholds}
    )
    assert _impostor_accept_rate(wrong, offset_people, b"k" * 32) > 0.5
    assert _impostor_accept_rate(shipped()["synthetic-128-offset"], offset_people, b"k" * 32) < 1e-3


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_strangers_of_another_length_than_the_calibrations_are_taken_for_nobody(scale: float) -> None:
    # The offset model (dlib-like: strangers at cosine ~0.8) calibrated from unit-length templates,
    # a gallery enrolled at unit length, and captures whose model or vendor scales them otherwise.
    calibration = shipped()["synthetic-128-offset"]
    people = Population.create(SYNTHETIC_128_OFFSET, 600, seed=21)
    protector = calibration.protector(b"k" * 32, 1)
    gallery = protector.protect(people.captures(np.arange(300), 0))
    threshold = calibration.threshold(masked=False, far=calibration.far_target / 300)
    strangers = protector.protect(people.captures(np.arange(300, 600), 1) * np.float32(scale))
    assert all_pairs_agreement(calibration.scheme, strangers, gallery).max() <= threshold
    found = []
    for length in (1.0, scale):
        genuine = protector.protect(people.captures(np.arange(300), 2) * np.float32(length))
        scores = all_pairs_agreement(calibration.scheme, genuine, gallery)
        found.append((scores.argmax(axis=1) == np.arange(300)) & (scores.max(axis=1) > threshold))
    assert np.array_equal(found[1], found[0]) and found[0].mean() > 0.5  # the same people as at unit length


def test_a_calibration_from_embeddings_of_any_length_is_that_of_their_directions() -> None:
    population = Population.create(SYNTHETIC_128_OFFSET, 400, seed=8)
    everyone = np.arange(400)
    faces = np.concatenate([population.captures(everyone, 0), population.captures(everyone, 1)])
    lengths = np.random.default_rng(2).uniform(0.5, 30, size=(len(faces), 1)).astype(np.float32)
    sampling = Sampling(far=1e-3, key_seed=1)
    unit = calibrate("x", faces, np.r_[everyone, everyone], sampling=sampling)
    raw = calibrate("x", faces * lengths, np.r_[everyone, everyone], sampling=sampling)
    assert np.allclose(raw.mean_vector, unit.mean_vector, atol=1e-6)
    # Unit-length rows are taken as they are: the same data calibrates to the same label as before.
    assert np.array_equal(unit.mean_vector, faces.mean(axis=0))
    assert abs(raw.thresholds.clean - unit.thresholds.clean) < 0.01


def test_calibrate_refuses_too_few_impostor_pairs() -> None:
    population = Population.create(SYNTHETIC_512, 40, seed=1)
    faces = population.captures(np.arange(40), 0)
    with pytest.raises(CalibrationError, match="impostor pairs"):
        calibrate("tiny", faces, np.arange(40))


def test_calibrate_measures_mean_and_masked_threshold() -> None:
    population = Population.create(SYNTHETIC_128_OFFSET, 1500, seed=8)
    everyone = np.arange(1500)
    faces = np.concatenate([population.captures(everyone, 0), population.captures(everyone, 1, masked=True)])
    result = calibrate(
        "x", faces, np.r_[everyone, everyone], np.repeat([False, True], 1500), Sampling(far=1e-3, key_seed=1)
    )
    assert np.allclose(result.mean_vector, population.captures(everyone, 0).mean(axis=0), atol=1e-5)
    assert 0.5 < result.thresholds.clean < 1 and 0.5 < result.thresholds.masked < 1


def test_threshold_for_far_accepts_at_most_that_share() -> None:
    scores = np.arange(10_000) / 10_000
    threshold = threshold_for_far(scores, 1e-3)
    assert np.mean(scores > threshold) <= 1e-3
    assert np.mean(scores >= threshold) > 1e-3


@pytest.mark.parametrize("model", ["synthetic-512", "synthetic-128-offset"])
def test_below_the_strictest_measured_rate_the_threshold_keeps_rising(model: str) -> None:
    """A 1:N search of n subjects asks for far_target / n per comparison: past the strictest measured
    level the threshold used to stay there, so false accepts grew with the gallery (~870 times the
    target at a million). It is extrapolated, as steeply as the steepest measured step, never less."""
    calibration = shipped()[model]
    target, strictest = calibration.far_target, calibration.strictest_far
    for masked in (False, True):
        held = calibration.threshold(masked, strictest)
        rates = [target / n for n in (1, 10, 100, 1_000, 100_000, 1_000_000, 10**9)]
        thresholds = [calibration.threshold(masked, far) for far in rates]
        assert thresholds == sorted(thresholds) and thresholds[2] == held, "measured levels as measured"
        steps = np.diff([held, *thresholds[3:]])
        measured = [calibration.thresholds, *calibration.stricter]  # one decade apart
        steepest = max(max(b.masked - a.masked, b.clean - a.clean) for a, b in itertools.pairwise(measured))
        assert steps[0] == pytest.approx(steepest) and thresholds[-1] <= 1.0
        assert all(s > 0 for s in steps[:-1]), "every decade stricter than the one before"
    assert calibration.threshold(False, strictest * 0.999) > calibration.threshold(False, strictest)


def test_a_calibration_of_one_level_holds_it_and_says_so() -> None:
    one = shipped()["synthetic-512"].model_copy(update={"stricter": []})
    assert not one.extrapolates and one.threshold(False, 1e-12) == one.thresholds.clean
    assert shipped()["synthetic-512"].extrapolates


def test_a_flat_rate_rises_with_the_other_and_levels_close_together_are_no_cliff() -> None:
    shipped_512 = shipped()["synthetic-512"]
    flat_masked = shipped_512.model_copy(
        update={
            "stricter": [s.model_copy(update={"masked": shipped_512.thresholds.masked}) for s in shipped_512.stricter]
        }
    )
    assert flat_masked.threshold(True, 1e-10) > flat_masked.threshold(True, flat_masked.strictest_far)
    strictest = shipped_512.stricter[-1]
    close = shipped_512.model_copy(
        update={
            "stricter": [
                *shipped_512.stricter,
                strictest.model_copy(update={"far": 9.9e-7, "clean": strictest.clean + 1 / 1024}),
            ]
        }
    )
    assert close.threshold(False, 1e-10) < 0.75, "a quantum between 1e-6 and 9.9e-7 is not a rise of 0.22 a decade"


def test_a_rise_across_levels_close_together_still_counts() -> None:
    """1e-4 -> 4e-5 rises 0.02 and 4e-5 -> 1e-5 not at all: no consecutive pair is both half a
    decade apart and rising, but 1e-4 -> 1e-5 is: the threshold keeps rising below 1e-5."""
    base = shipped()["synthetic-512"]
    risen = base.thresholds.model_copy(update={"clean": base.thresholds.clean + 0.02})
    levels = [StricterThresholds(far=4e-5, clean=risen.clean, masked=risen.masked),
              StricterThresholds(far=1e-5, clean=risen.clean, masked=risen.masked)]  # fmt: skip
    odd = base.model_copy(update={"stricter": levels})
    assert odd.extrapolates and odd.threshold(False, 1e-10) > odd.threshold(False, 1e-5)
