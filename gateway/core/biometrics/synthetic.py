"""Seeded synthetic face embeddings with the statistics of real face models (below).

An identity is a direction drawn from an anisotropic Gaussian (a power-law spectrum, so that
different people's cosines spread like a real model's, about N(0, 0.07) at 512-d); a capture
adds isotropic noise of a per-capture scale (log-normal, so that the same person's cosines are
about 0.63 +- 0.11); a mask multiplies that noise by 2.5. Models with a common component
(as dlib's 128-d model has: strangers at cosine ~0.8) add a fixed offset direction, which is
why calibration centres embeddings per model before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.core.biometrics.embeddings import Vectors, normalise

MASK_NOISE_FACTOR = 2.5


@dataclass(frozen=True)
class SyntheticModel:
    name: str
    dim: int
    spectrum_decay: float = 0.74  # identity spectrum ~ k^-decay: spreads impostor cosines
    noise: float = 0.73  # median capture-noise scale relative to the identity
    noise_spread: float = 0.36  # log-normal sigma of the per-capture noise scale
    offset: float = 0.0  # weight of the common component shared by every embedding


SYNTHETIC_512 = SyntheticModel("synthetic-512", 512)
# dlib-like: a large common component; raw cosine of strangers is ~0.8.
SYNTHETIC_128_OFFSET = SyntheticModel("synthetic-128-offset", 128, spectrum_decay=0.6, offset=2.0)
MODELS = {m.name: m for m in (SYNTHETIC_512, SYNTHETIC_128_OFFSET)}


@dataclass(frozen=True)
class Population:
    """Identities of one seeded population; captures of them are drawn on demand."""

    model: SyntheticModel
    identities: Vectors
    seed: int

    @classmethod
    def create(cls, model: SyntheticModel, people: int, seed: int) -> Population:
        rng = np.random.default_rng([seed, 0])
        spectrum = np.arange(1, model.dim + 1, dtype=np.float64) ** -model.spectrum_decay
        scale = np.sqrt(spectrum / spectrum.mean())
        identities = normalise((rng.standard_normal((people, model.dim)) * scale).astype(np.float32))
        return cls(model, identities, seed)

    @property
    def common(self) -> Vectors:
        """The model's common component: a property of the model, the same for every population."""
        rng = np.random.default_rng(list(self.model.name.encode()))
        direction = normalise(rng.standard_normal((1, self.model.dim)).astype(np.float32))[0]
        return np.asarray(direction * self.model.offset, dtype=np.float32)

    def captures(
        self,
        people: npt.ArrayLike,
        stream: int,
        masked: npt.ArrayLike | bool = False,
        noise: float | None = None,
    ) -> Vectors:
        """One capture of each listed person; `stream` numbers independent capture sessions.

        `noise` fixes the capture-noise scale (a good frontal capture is ~0.4) instead of drawing it.
        """
        index = np.asarray(people, dtype=np.int64)
        rng = np.random.default_rng([self.seed, 2, stream])
        scale = np.exp(rng.normal(np.log(self.model.noise), self.model.noise_spread, len(index)))
        if noise is not None:
            scale = np.full(len(index), noise)
        scale = scale * np.where(np.asarray(masked, dtype=bool), MASK_NOISE_FACTOR, 1.0)
        jitter = rng.standard_normal((len(index), self.model.dim)) / np.sqrt(self.model.dim)
        faces = normalise((self.identities[index] + scale[:, None] * jitter).astype(np.float32))
        return normalise(faces + self.common)
