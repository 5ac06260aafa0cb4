"""IoM protection is keyed, versioned, deterministic, and scores what it claims to."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.core.biometrics.embeddings import TemplateError, normalise
from gateway.core.biometrics.protection import (
    FEW_TEMPLATES,
    SOME_TEMPLATES,
    Protector,
    Scheme,
    all_pairs_agreement,
    hamming,
)
from gateway.core.biometrics.synthetic import SYNTHETIC_128_OFFSET, SYNTHETIC_512, Population

FACES = Population.create(SYNTHETIC_512, 50, seed=4).captures(np.arange(50), 0)
ZERO = np.zeros(512, dtype=np.float32)
KEY_A, KEY_B = b"a" * 32, b"b" * 32


def test_codes_are_deterministic_from_key_version_and_model() -> None:
    one = Protector(KEY_A, 1, "m", ZERO).protect(FACES)
    assert one.shape == (50, 128) and one.dtype == np.uint8
    assert np.array_equal(one, Protector(KEY_A, 1, "m", ZERO).protect(FACES))
    for other in (
        Protector(KEY_B, 1, "m", ZERO),
        Protector(KEY_A, 2, "m", ZERO),
        Protector(KEY_A, 1, "n", ZERO),
    ):
        codes = other.protect(FACES)
        # Unrelated transforms agree on about half the bits, like strangers.
        assert 0.45 < float(np.mean(other.score(one, codes))) < 0.55


@pytest.mark.parametrize("scheme", [Scheme(), Scheme(hashes=64, q=4)])
def test_a_batch_of_any_size_gets_the_codes_each_template_gets_from_exact_arithmetic(scheme: Scheme) -> None:
    # protect() projects a few templates one at a time, more with W first, many with W second.
    faces = Population.create(SYNTHETIC_512, 100, seed=5).captures(np.arange(100), 0)
    mean = np.full(512, 0.01, dtype=np.float32)
    protector = Protector(KEY_A, 1, "m", mean, scheme)
    centred = faces.astype(np.float64) - mean
    exact = (centred / np.linalg.norm(centred, axis=1, keepdims=True)) @ protector._w.T.astype(np.float64)
    for n in (1, 2, FEW_TEMPLATES, FEW_TEMPLATES + 1, SOME_TEMPLATES, SOME_TEMPLATES + 1, 100):
        codes = protector.protect(faces[:n])
        assert codes.shape == (n, scheme.code_bytes)
        if scheme.q == 2:
            bits = np.unpackbits(codes, axis=1).astype(bool)
            clear = np.abs(exact[:n]) > 1e-4  # float32 may round a projection this close to 0 either way
            assert clear.mean() > 0.999 and np.array_equal(bits[clear], (exact[:n] > 0)[clear])
        else:
            winners = np.unpackbits(codes, axis=1).reshape(n, scheme.hashes, scheme.q).argmax(axis=2)
            assert np.mean(winners == exact[:n].reshape(n, scheme.hashes, scheme.q).argmax(axis=2)) > 0.999


def test_agreement_counts_equal_argmax_indices_for_q_above_two() -> None:
    scheme = Scheme(hashes=64, q=8)
    protector = Protector(KEY_A, 1, "m", ZERO, scheme)
    codes = protector.protect(FACES)
    assert codes.shape == (50, 64 * 8 // 8)
    onehot = np.unpackbits(codes, axis=1).reshape(50, 64, 8)
    assert np.all(onehot.sum(axis=2) == 1)  # exactly one winner per hash
    indices = onehot.argmax(axis=2)
    expected = (indices[0] == indices[1]).mean()
    assert protector.score(codes[:1], codes[1:2])[0] == pytest.approx(expected)


def test_all_pairs_matches_rowwise_hamming() -> None:
    scheme = Scheme()
    codes = Protector(KEY_A, 1, "m", ZERO).protect(FACES)
    matrix = all_pairs_agreement(scheme, codes[:5], codes[5:10])
    for i in range(5):
        expected = scheme.agreement(hamming(np.repeat(codes[i : i + 1], 5, axis=0), codes[5:10]))
        assert np.allclose(matrix[i], expected)
    assert np.allclose(np.diag(all_pairs_agreement(scheme, codes, codes)), 1.0)


def test_centring_uses_the_calibrated_mean() -> None:
    offset = np.full(512, 0.3, dtype=np.float32)
    templates = normalise(FACES + offset)
    plain = Protector(KEY_A, 1, "m", ZERO).protect(templates)
    centred = Protector(KEY_A, 1, "m", offset).protect(templates)
    assert np.array_equal(centred, Protector(KEY_A, 1, "m", ZERO).protect(templates - offset))
    assert not np.array_equal(plain, centred)


def test_a_templates_code_does_not_depend_on_its_length() -> None:
    # The calibration's mean is that of unit-length templates; a template of another length
    # (a model's raw output, a vendor's rescaling) centred as it came kept the population's common
    # direction in its code, and strangers matched: of the offset model's strangers at half length,
    # every one was taken for an enrolled subject. Only a template's direction is the face.
    faces = Population.create(SYNTHETIC_128_OFFSET, 50, seed=4).captures(np.arange(50), 0)
    protector = Protector(KEY_A, 1, "m", faces.mean(axis=0))
    unit = protector.protect(faces)
    for scale in (0.25, 2.0, 32.0):  # powers of two: the scaled copies normalise to the same floats
        assert np.array_equal(protector.protect(faces * np.float32(scale)), unit)


def test_a_template_with_no_direction_of_its_own_is_never_protected() -> None:
    # At the mean (centres to zero, at any length), or byte-swapped (its float32 norm overflows):
    # either used to protect to the all-zero code, one code for every such template.
    swapped = np.frombuffer(np.full(512, 1 / np.sqrt(512), dtype=">f4").tobytes(), dtype="<f4")  # finite, ~1e31
    mean = np.full(512, 1 / np.sqrt(512), dtype=np.float32)
    for protector, template in (
        (Protector(KEY_A, 1, "m", mean), mean * np.float32(4)),
        (Protector(KEY_A, 1, "m", ZERO), swapped),
    ):
        with pytest.raises(TemplateError):
            protector.protect(np.stack([FACES[0], template]))


def test_repr_hides_the_projections() -> None:
    text = repr(Protector(KEY_A, 3, "m", ZERO))
    assert "version=3" in text and "array" not in text and len(text) < 120


@pytest.mark.parametrize(("hashes", "q"), [(4, 2), (1024, 1), (100, 3)])
def test_invalid_schemes_are_refused(hashes: int, q: int) -> None:
    with pytest.raises(ValueError):
        Scheme(hashes, q)
