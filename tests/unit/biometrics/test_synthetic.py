"""The synthetic generator has the documented statistics, and is reproducible from its seed."""

from __future__ import annotations

import numpy as np

from gateway.core.biometrics.embeddings import normalise
from gateway.core.biometrics.synthetic import SYNTHETIC_128_OFFSET, SYNTHETIC_512, Population

PEOPLE = 3000


def _cosines(model: object, centre: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    population = Population.create(model, PEOPLE, seed=3)  # type: ignore[arg-type]
    everyone = np.arange(PEOPLE)
    a, b = population.captures(everyone, 0), population.captures(everyone, 1)
    masked = population.captures(everyone, 2, masked=True)
    if centre:
        mean = np.concatenate([a, b]).mean(axis=0)
        a, b, masked = normalise(a - mean), normalise(b - mean), normalise(masked - mean)
    genuine = (a * b).sum(axis=1)
    impostor = (a[: PEOPLE // 2] @ b[PEOPLE // 2 :].T).ravel()
    return genuine, impostor, (a * masked).sum(axis=1)


def test_512_d_statistics_match_the_design() -> None:
    population = Population.create(SYNTHETIC_512, 10, seed=1)
    faces = population.captures(np.arange(10), 0)
    assert faces.shape == (10, 512) and faces.dtype == np.float32
    assert np.allclose(np.linalg.norm(faces, axis=1), 1, atol=1e-5)
    genuine, impostor, masked = _cosines(SYNTHETIC_512)
    assert abs(genuine.mean() - 0.63) < 0.02 and abs(genuine.std() - 0.11) < 0.02
    assert abs(impostor.mean()) < 0.005 and abs(impostor.std() - 0.07) < 0.01
    # Masks multiply capture noise by 2.5: the same person looks much less alike.
    assert masked.mean() < genuine.mean() - 0.15


def test_offset_model_looks_like_dlib_until_centred() -> None:
    genuine, impostor, _ = _cosines(SYNTHETIC_128_OFFSET)
    assert impostor.mean() > 0.75 and genuine.mean() > 0.9  # strangers already "similar"
    genuine, impostor, _ = _cosines(SYNTHETIC_128_OFFSET, centre=True)
    assert abs(impostor.mean()) < 0.01 and genuine.mean() > 0.5


def test_same_seed_same_faces_other_seed_other_faces() -> None:
    a = Population.create(SYNTHETIC_512, 5, seed=9).captures([0, 1, 2], 4)
    b = Population.create(SYNTHETIC_512, 5, seed=9).captures([0, 1, 2], 4)
    c = Population.create(SYNTHETIC_512, 5, seed=10).captures([0, 1, 2], 4)
    assert np.array_equal(a, b) and not np.allclose(a, c)
