"""Cancelable templates: Index-of-Max hashing with Gaussian random projections (Jin et al., TIFS 2018).

Each of `hashes` hash functions projects the centred, normalised embedding onto `q` keyed
Gaussian directions and keeps only the index of the largest projection. The projections are
derived from the tenant's protection key and key version, so two tenants' templates of one
person are unrelated, and rotating the key revokes a leaked set. Only ranks survive, never
magnitudes: without the key the transform cannot be inverted.

Codes are stored as bits so that 1:N search is a Hamming search (gateway.core.biometrics.matching):
for q = 2 each hash is one bit (the sign of a projection difference, which is itself Gaussian);
for q > 2 each hash is a one-hot group of q bits, whose Hamming distance is twice the number of
disagreeing hashes. The score of two codes is the fraction of agreeing hashes.
Which (hashes, q) to use was chosen by measurement: see `facegate eval protection --compare`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from gateway.core.biometrics.embeddings import TemplateError, Vectors

Codes = npt.NDArray[np.uint8]

# No face model emits a template whose norm is outside this; a float32 vector read in the wrong
# byte order mostly is (its norm overflows float32 and would centre to a zero vector).
RAW_NORM_RANGE = (1e-6, 1e6)
# A template this close to the population mean (scaled to unit length) has no direction of its
# own: it would protect to an all-zero or rounding-noise code that agrees with every other such
# template, so every such capture would match one enrolled subject. A face sits ~0.4-1 away.
MIN_CENTRED_NORM = 1e-3
# Bounds of a scheme a calibration may name: each tenant key version's projection is hashes x q
# rows of dim values, made for every enrollment and capture (1,024 x 512 by default, 2 MiB).
MAX_HASHES, MAX_Q = 4096, 16


@dataclass(frozen=True)
class Scheme:
    """IoM parameters; part of a model's calibration because thresholds depend on them."""

    hashes: int = 1024
    q: int = 2

    def __post_init__(self) -> None:
        if not (2 <= self.q <= MAX_Q and 8 <= self.hashes <= MAX_HASHES):
            raise ValueError(
                f"IoM needs q >= 2 and at least 8 hashes; at most {MAX_HASHES} hashes and a q of at most {MAX_Q}"
            )
        if self.bits % 8:
            raise ValueError("IoM code length must be a whole number of bytes")

    @property
    def bits(self) -> int:
        return self.hashes if self.q == 2 else self.hashes * self.q

    @property
    def code_bytes(self) -> int:
        return self.bits // 8

    def agreement(self, hamming: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Fraction of agreeing hashes from a Hamming distance between two codes."""
        distance = np.asarray(hamming, dtype=np.float64)
        disagreeing = distance if self.q == 2 else distance / 2
        return np.asarray(1.0 - disagreeing / self.hashes)


DEFAULT_SCHEME = Scheme()

# How many templates Protector.protect projects one at a time, and up to how many with W first.
FEW_TEMPLATES, SOME_TEMPLATES = 3, 64


def _projection_seed(key: bytes, version: int, model: str, dim: int, scheme: Scheme) -> int:
    label = f"facegate/iom/v1|{model}|{dim}|{scheme.hashes}|{scheme.q}|{version}".encode()
    return int.from_bytes(hmac.new(key, label, hashlib.sha256).digest(), "big")


@lru_cache(maxsize=64)
def _projections(seed: int, dim: int, hashes: int, q: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    # One row a code bit: q = 2 needs one per hash (the difference of two Gaussians is one Gaussian).
    return rng.standard_normal((Scheme(hashes, q).bits, dim), dtype=np.float32)


def usable(x: npt.NDArray[np.float64], mean: npt.NDArray[np.float64], unit_length: bool = True) -> bool:
    """Whether one raw template has a norm in RAW_NORM_RANGE and lies far enough from the mean to
    have a direction: scaled to unit length (or, for a calibration measured at the model's own
    lengths, relative to its norm). In float64, where no float32 template's squared norm overflows
    or underflows (~2 µs a template)."""
    raw = float(x @ x)
    if not RAW_NORM_RANGE[0] ** 2 <= raw <= RAW_NORM_RANGE[1] ** 2:
        return False
    # The centred template's squared norm in dot products alone (no vector made: ~1 µs less).
    towards, spread = float(x @ mean), float(mean @ mean)
    if unit_length:
        return 1 - 2 * towards / math.sqrt(raw) + spread >= MIN_CENTRED_NORM**2
    return raw - 2 * towards + spread >= MIN_CENTRED_NORM**2 * raw


class Protector:
    """The keyed transform of one tenant key version for one template model."""

    def __init__(
        self, key: bytes, version: int, model: str, mean: Vectors, scheme: Scheme = DEFAULT_SCHEME,
        unit_length: bool = True,
    ) -> None:  # fmt: skip
        self.version = version
        self.scheme = scheme
        self.unit_length = unit_length  # False: centred as they come (a calibration without `unit_length`)
        self.mean = np.asarray(mean, dtype=np.float32)
        dim = int(self.mean.shape[0])
        self._w = _projections(_projection_seed(key, version, model, dim, scheme), dim, scheme.hashes, scheme.q)

    def __repr__(self) -> str:
        return f"Protector(version={self.version}, scheme={self.scheme})"  # never the projections

    def protect(self, embeddings: Vectors) -> Codes:
        """Codes (n, code_bytes) for a batch of raw embeddings (n, dim); TemplateError if one has no
        usable direction (callers check each template first: Calibration.template)."""
        # Scaled to unit length first, as the calibration's mean was measured: models write
        # templates at lengths of their own (and vendors rescale them), and one centred at another
        # length keeps the population's common direction, which all strangers share. Each template
        # was checked on its way in (Calibration.template); here again what would make a code of no
        # direction at all (cheap: the norms normalising computes anyway).
        templates = np.atleast_2d(embeddings).astype(np.float32)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # refused below, not warned of
            lengths = np.linalg.norm(templates, axis=1, keepdims=True)
            centred = (templates / lengths if self.unit_length else templates) - self.mean
            norms = np.linalg.norm(centred, axis=1, keepdims=True)
        least = MIN_CENTRED_NORM if self.unit_length else 0.0
        # Three reductions (a NaN fails the first): most batches are a template or two.
        if not (float(norms.min()) > least and float(norms.max()) < math.inf and float(lengths.max()) < math.inf):
            raise TemplateError("template is out of range or at the model's population mean")
        centred = np.asarray(centred / norms, dtype=np.float32)
        projected = self._project(centred)
        if self.scheme.q == 2:
            bits = projected > 0
        else:
            groups = projected.reshape(len(centred), self.scheme.hashes, self.scheme.q)
            winners = groups.argmax(axis=2)
            bits = np.zeros(groups.shape, dtype=bool)
            np.put_along_axis(bits, winners[..., None], True, axis=2)
            bits = bits.reshape(len(centred), -1)
        return np.packbits(bits, axis=1)

    def _project(self, centred: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """`centred @ W.T`, (n, rows). OpenBLAS's matrix product packs its operands on every call, the
        whole of W (2 MiB at 512-d) when it comes second: ten times a matrix-vector product's cost at
        two templates. A paced worker protects a few at a time, so those go one by one, and up to
        tens with W first, which packs less (bench/PROFILES.md)."""
        if 0 < len(centred) <= FEW_TEMPLATES:
            return np.stack([self._w @ row for row in centred])
        if len(centred) <= SOME_TEMPLATES:
            return np.ascontiguousarray((self._w @ centred.T).T)
        return np.asarray(centred @ self._w.T)

    def score(self, a: Codes, b: Codes) -> npt.NDArray[np.float64]:
        """Agreement of paired codes (row i of a with row i of b)."""
        return self.scheme.agreement(hamming(a, b))


def hamming(a: Codes, b: Codes) -> npt.NDArray[np.int64]:
    """Row-wise Hamming distance of two equally shaped packed code arrays."""
    differing = np.unpackbits(np.bitwise_xor(np.atleast_2d(a), np.atleast_2d(b)), axis=1)
    return np.asarray(differing.sum(axis=1, dtype=np.int64), dtype=np.int64)


def all_pairs_agreement(scheme: Scheme, a: Codes, b: Codes) -> npt.NDArray[np.float64]:
    """Agreement of every code in `a` with every code in `b` (len(a), len(b)), for evaluation."""
    sa = np.unpackbits(a, axis=1).astype(np.float32) * 2 - 1
    sb = np.unpackbits(b, axis=1).astype(np.float32) * 2 - 1
    same_bits = (scheme.bits + sa @ sb.T) / 2
    return scheme.agreement(scheme.bits - same_bits)
