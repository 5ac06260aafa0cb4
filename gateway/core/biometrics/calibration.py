"""Per-model calibration, shipped as data: dimension, population mean, scheme and thresholds.

Real models are not zero-centred (dlib's 128-d strangers sit at cosine ~0.8), so everything
model-specific is measured from labelled embeddings of that model: the population mean that
centres them, and the score threshold that yields the target false-accept rate on impostor
pairs, separately for clean and masked captures. A capture whose model has no calibration is
not identified at all.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations, pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.core.biometrics.embeddings import TemplateError, Vectors, from_bytes
from gateway.core.biometrics.protection import (
    DEFAULT_SCHEME,
    RAW_NORM_RANGE,
    Protector,
    Scheme,
    all_pairs_agreement,
    usable,
)
from gateway.core.biometrics.synthetic import Population, SyntheticModel
from gateway.errors import FaceGateError

DEFAULT_FAR = 1e-4
# Each tenant key version's projection is made for every enrollment and kept for its captures: at
# most 16 MiB (1,024 hashes of 4,096 values; the default scheme at 512-d is 2 MiB).
MAX_PROJECTION_VALUES = 2**22
_DERIVED = ("_mean64", "_step")  # Calibration's cached properties


class CalibrationError(FaceGateError, ValueError):
    """Not enough or inconsistent data to calibrate a model."""


class Thresholds(BaseModel):
    model_config = ConfigDict(frozen=True)
    clean: float = Field(ge=0, le=1)
    masked: float = Field(ge=0, le=1)


class StricterThresholds(Thresholds):
    """Thresholds at a lower false-accept rate, for 1:N search over many enrolled subjects."""

    far: float = Field(gt=0, lt=1)


class Calibration(BaseModel):
    """Everything model-specific the gateway needs to protect and match one template_model."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    template_model: str = Field(min_length=1, max_length=256)
    # Raised by the operator with each recalibration of the model; with the fingerprint of the
    # centring and scheme it names the calibration an enrolled template was protected under.
    version: int = Field(1, ge=1)
    dim: int = Field(ge=2, le=4096)
    mean: list[float]
    hashes: int = 1024
    q: int = 2
    far_target: float = Field(DEFAULT_FAR, gt=0, lt=1)
    thresholds: Thresholds
    stricter: list[StricterThresholds] = Field(default_factory=list, description="at lower FARs, loosest first")
    impostor_pairs: int = Field(ge=0, description="impostor comparisons the thresholds rest on")
    source: str = ""
    # Measured from embeddings scaled to unit length, so each template is scaled so before it is
    # centred (`calibrate` of this release). A file without it (0.3.0's) may have been measured at
    # the model's own lengths: its templates are centred as they come, as 0.3.0 did, and the start
    # warns (one of another length than its embeddings' may match strangers).
    unit_length: bool = False

    @model_validator(mode="after")
    def _usable(self) -> Calibration:
        """Refuse at start-up what would otherwise fail, or match strangers, at every capture."""
        if len(self.mean) != self.dim:
            raise ValueError(f"mean has {len(self.mean)} values, dim is {self.dim}")
        with np.errstate(over="ignore"):
            if not np.isfinite(self.mean_vector).all():  # NaN, inf, or beyond float32 centres to a zero code
                raise ValueError("mean holds values that are not finite float32 numbers")
            length = float(np.linalg.norm(self._mean64))
        if self.unit_length and length > 1 + 1e-4:  # no mean of unit-length templates is longer
            raise ValueError(
                f"mean is {length:.4g} long, longer than a mean of unit-length templates can be, as unit_length "
                "says it is: calibrate again (`facegate calibrate` scales every embedding to unit length)"
            )
        try:
            chance = 1 / Scheme(self.hashes, self.q).q  # two strangers' codes agree on 1/q of the hashes
        except ValueError as exc:
            raise ValueError(f"hashes {self.hashes}, q {self.q}: {exc}") from None
        if (values := self.scheme.bits * self.dim) > MAX_PROJECTION_VALUES:  # a row a code bit
            raise ValueError(
                f"a projection of {values:,} values ({self.scheme.bits} rows of {self.dim}) per tenant key is "
                f"more than {MAX_PROJECTION_VALUES:,}"
            )
        levels = self._levels
        for far, level in levels:
            if not (chance < level.clean <= 1 and chance < level.masked <= 1):
                raise ValueError(
                    f"thresholds at FAR {far:g} must lie above chance agreement ({chance:g}) and at most 1"
                )
        for (far, looser), (stricter_far, level) in pairwise(levels):
            if not stricter_far < far:
                raise ValueError(f"stricter level FAR {stricter_far:g} must be below {far:g} (loosest first)")
            if level.clean < looser.clean or level.masked < looser.masked:
                raise ValueError(f"stricter level at FAR {stricter_far:g} has a looser threshold than FAR {far:g}")
        return self

    @property
    def scheme(self) -> Scheme:
        return Scheme(self.hashes, self.q)

    @property
    def label(self) -> str:
        """<version>-<digest of what decides a protected code: model, centring, scheme>, as enrolled
        templates record it (EnrolledTemplate.calibration_version). Thresholds are not in it: a
        recalibration that only moves them keeps every enrolled template valid."""
        digest = hashlib.sha256(
            f"{self.template_model}|{self.dim}|{self.hashes}|{self.q}|".encode() + self.mean_vector.tobytes()
        ).hexdigest()
        return f"{self.version}-{digest[:12]}"

    @property
    def mean_vector(self) -> Vectors:
        return np.asarray(self.mean, dtype=np.float32)

    def template(self, data: bytes) -> Vectors:
        """One raw template of this model, checked: TemplateError (never quoting values) for one
        of the wrong size, not finite, zero, of an impossible norm, or at the population mean.
        Two float64 products (~3 µs): every capture is checked so, before its batch is protected."""
        vector = from_bytes(data, self.dim)
        if not usable(vector.astype(np.float64), self._mean64, self.unit_length):
            raise TemplateError("template is out of range or at the model's population mean")
        return vector

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Calibration:
        """A copy, without what this one derived and cached from its fields (`update` may change them)."""
        copied = super().model_copy(update=update, deep=deep)
        for derived in _DERIVED:
            copied.__dict__.pop(derived, None)
        return copied

    @cached_property
    def _mean64(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.mean, dtype=np.float64)

    def protector(self, key: bytes, version: int) -> Protector:
        return Protector(key, version, self.template_model, self.mean_vector, self.scheme, self.unit_length)

    @property
    def _levels(self) -> list[tuple[float, Thresholds]]:
        """Every measured level, (false-accept rate, thresholds), the calibrated target's first."""
        return [(self.far_target, self.thresholds), *((s.far, s) for s in self.stricter)]

    @property
    def strictest_far(self) -> float:
        """The lowest per-comparison false-accept rate a threshold was measured for."""
        return self.stricter[-1].far if self.stricter else self.far_target

    def measured_gallery(self, far_target: float) -> int:
        """The most enrolled subjects a 1:N search can hold and still meet `far_target` per probe
        with a measured threshold (far_target / n no lower than the strictest measured rate)."""
        return max(1, int(far_target / self.strictest_far * (1 + 1e-9)))  # 1e-4 / 1e-6 is 99.99...

    @property
    def extrapolates(self) -> bool:
        """Whether thresholds below the strictest measured rate can be extrapolated: two levels at
        least half a decade apart whose thresholds rise."""
        return self._step > 0

    def threshold(self, masked: bool, far: float | None = None) -> float:
        """Threshold for a per-comparison false-accept rate (default: the calibrated target).

        1:N search over n subjects compares each probe n times, so identification asks for
        far_target / n here: the measured level at or below that rate. Below the strictest
        measured rate the threshold is extrapolated, never held: from the strictest level, by the
        steepest rise per decade of rate measured (clean or masked, for both). Where the impostor
        tail falls off like a Gaussian one, as the synthetic models' does, its rise per decade
        shrinks with each decade, so this is stricter than the tail needs; a real model's tail of
        look-alikes may be heavier, which only measuring stricter levels shows (`calibrate
        --max-rows`). Held at the strictest level, a stranger's chance of being taken for someone
        grew with the gallery: at a million enrolled (1e-10 per comparison) ~870 times the target.
        """
        chosen: Thresholds = self.thresholds
        if far is None or far >= self.far_target:
            return chosen.masked if masked else chosen.clean
        candidates = [s for s in self.stricter if s.far <= far]
        if candidates:
            chosen = max(candidates, key=lambda s: s.far)
            return chosen.masked if masked else chosen.clean
        strictest = self.stricter[-1] if self.stricter else self.thresholds
        base = strictest.masked if masked else strictest.clean
        return min(1.0, base + self._step * math.log10(self.strictest_far / far))

    @cached_property
    def _step(self) -> float:
        """The steepest rise of a threshold, clean or masked, per decade of rate between any two
        levels at least half a decade apart (closer ones, as a hand-edited file may hold, would
        read one score quantum as a cliff); 0: nothing to extrapolate from, which the start-up
        log says."""
        step = 0.0
        for (far, looser), (stricter_far, level) in combinations(self._levels, 2):
            decades = math.log10(far / stricter_far)
            if decades >= 0.5:
                step = max(step, (level.clean - looser.clean) / decades, (level.masked - looser.masked) / decades)
        return step


def threshold_for_far(impostor_scores: npt.ArrayLike, far: float) -> float:
    """The smallest threshold (accept when score > threshold) whose impostor accept rate is <= far."""
    scores = np.sort(np.asarray(impostor_scores, dtype=np.float64).ravel())[::-1]
    allowed = int(np.floor(far * len(scores)))
    return float(scores[min(allowed, len(scores) - 1)])


def _impostor_scores(
    probes: Vectors, probe_labels: npt.NDArray[np.int64],
    gallery: Vectors, gallery_labels: npt.NDArray[np.int64],
    protectors: list[Protector], scheme: Scheme,
) -> npt.NDArray[np.float64]:  # fmt: skip
    """Protected scores of probes against a gallery of other people, pooled over several keys.

    Pooling over several keys makes the threshold hold for any tenant's key, not one key's luck.
    """
    pooled = []
    different = probe_labels[:, None] != gallery_labels[None, :]
    for protector in protectors:
        scores = all_pairs_agreement(scheme, protector.protect(probes), protector.protect(gallery))
        pooled.append(scores[different])
    return np.concatenate(pooled)


@dataclass(frozen=True)
class Sampling:
    """How a calibration samples: the false-accept rate to hold, the protection scheme, how many
    random keys to pool impostor scores over (seeded for a reproducible shipped file), and how
    many rows to use as probes and as gallery at most."""

    far: float = DEFAULT_FAR
    scheme: Scheme = DEFAULT_SCHEME
    keys: int = 3
    max_rows: int = 3000
    key_seed: int | None = None

    def key_list(self) -> list[bytes]:
        if self.key_seed is None:
            return [secrets.token_bytes(32) for _ in range(self.keys)]
        return [hashlib.sha256(f"facegate-calibration|{self.key_seed}|{i}".encode()).digest() for i in range(self.keys)]


def _directions(x: Vectors, clean: npt.NDArray[np.intp]) -> tuple[Vectors, Vectors]:
    """Every embedding scaled to unit length, as the gateway protects each template (only its
    direction is the face; models, and vendors' pipelines, write them at lengths of their own),
    and the clean ones' mean; CalibrationError for a row no template could be protected from."""
    lengths = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    # Rows of unit length within float32's rounding are taken as they are: a calibration of the
    # same data as before scaling keeps its mean to the bit, so its label and every template enrolled
    # under it. Rows of no usable length stay as they are too, to be refused below.
    scaled = (lengths >= RAW_NORM_RANGE[0]) & (lengths <= RAW_NORM_RANGE[1]) & (np.abs(lengths - 1) > 1e-5)
    x = (x / np.where(scaled, lengths, 1.0)).astype(np.float32)
    mean = x[clean].mean(axis=0)
    mean64 = mean.astype(np.float64)  # the check each capture and enrollment gets (Calibration.template)
    unusable = [i for i, row in enumerate(x.astype(np.float64)) if not usable(row, mean64)]
    if unusable:
        raise CalibrationError(
            f"{len(unusable)} embedding rows are zero, of an impossible norm or at the population mean "
            f"(the first: row {unusable[0]}); drop them"
        )
    return x, mean


def calibrate(
    template_model: str,
    embeddings: Vectors,
    labels: npt.ArrayLike,
    masked: npt.ArrayLike | None = None,
    sampling: Sampling | None = None,
    source: str = "",
) -> Calibration:
    """Build a calibration from labelled embeddings of one model.

    Clean captures are split into probes and a gallery (as enrolled templates are clean); masked
    captures are scored as probes against that same clean gallery.
    """
    sampling = sampling or Sampling()
    far, scheme, max_rows = sampling.far, sampling.scheme, sampling.max_rows
    x = np.asarray(embeddings, dtype=np.float32)
    # Labels name people: integers or strings (person names, ids) alike; only equality matters.
    y = np.unique(np.asarray(labels).astype(str), return_inverse=True)[1].astype(np.int64).ravel()
    m = np.zeros(len(x), dtype=bool) if masked is None else np.asarray(masked, dtype=bool)
    if x.ndim != 2 or len(x) != len(y) or len(m) != len(x):
        raise CalibrationError("embeddings, labels and masked flags must describe the same rows")
    if not 0 < far < 1:
        raise CalibrationError(f"the false-accept rate must lie between 0 and 1, not {far:g}")
    broken = np.flatnonzero(~np.isfinite(x).all(axis=1)) if x.ndim == 2 else np.array([0])
    if len(broken):  # a failed detection, often: it would make the mean NaN and every code zero
        raise CalibrationError(
            f"{len(broken)} embedding rows hold NaN or infinite values (the first: row {broken[0]}); drop them"
        )
    clean = np.flatnonzero(~m)
    if len(np.unique(y[clean])) < 2:
        raise CalibrationError("need clean embeddings of at least two different people")
    x, mean = _directions(x, clean)
    order = np.random.default_rng(0).permutation(clean)
    half = min(len(order) // 2, max_rows)
    probes, gallery = order[:half], order[half : 2 * half]
    masked_probes = np.flatnonzero(m)[:max_rows]
    protectors = [Protector(key, 1, template_model, mean, scheme) for key in sampling.key_list()]

    thresholds = {}
    samples = {}
    pairs = 0
    for name, rows in (("clean", probes), ("masked", masked_probes)):
        if len(rows) == 0:
            continue
        impostors = _impostor_scores(x[rows], y[rows], x[gallery], y[gallery], protectors, scheme)
        if len(impostors) * far < 10:
            raise CalibrationError(
                f"{len(impostors)} {name} impostor pairs cannot set a threshold at FAR {far:g}: "
                f"need at least {int(10 / far)}"
            )
        thresholds[name] = threshold_for_far(impostors, far)
        samples[name] = impostors
        pairs += len(impostors)
    stricter = []
    level = float(f"{far / 10:.0e}")
    # Each level needs at least 10 impostor scores above its threshold to be measured, not guessed.
    while all(len(s) * level >= 10 for s in samples.values()):
        clean_at = threshold_for_far(samples["clean"], level)
        masked_at = threshold_for_far(samples["masked"], level) if "masked" in samples else clean_at
        stricter.append(StricterThresholds(far=level, clean=clean_at, masked=masked_at))
        level = float(f"{level / 10:.0e}")
    try:
        return Calibration(
            template_model=template_model,
            dim=x.shape[1],
            mean=[float(v) for v in mean],
            hashes=scheme.hashes,
            q=scheme.q,
            far_target=far,
            # Without masked samples the clean threshold stands in; the policy may still strip masks.
            thresholds=Thresholds(clean=thresholds["clean"], masked=thresholds.get("masked", thresholds["clean"])),
            stricter=stricter,
            impostor_pairs=pairs,
            source=source,
            unit_length=True,
        )
    except ValidationError as exc:  # never written: a worker would refuse the file at start-up
        problems = "; ".join(str(e["msg"]) for e in exc.errors(include_url=False))
        raise CalibrationError(f"the measured calibration is not usable: {problems}") from None


def calibrate_synthetic(model: SyntheticModel, people: int = 6000, seed: int = 7) -> Calibration:
    """The shipped calibration of a synthetic model: two clean and one masked capture per person."""
    population = Population.create(model, people, seed)
    everyone = np.arange(people)
    embeddings = np.concatenate(
        [
            population.captures(everyone, 0),
            population.captures(everyone, 1),
            population.captures(everyone, 2, masked=True),
        ]
    )
    labels = np.concatenate([everyone, everyone, everyone])
    masked = np.repeat([False, False, True], people)
    return calibrate(
        model.name, embeddings, labels, masked, Sampling(key_seed=seed),
        source=f"synthetic population: {people} people, seed {seed}, 3 captures each (1 masked)",
    )  # fmt: skip
