"""Accuracy, unlinkability and renewability of template protection, measured on a seeded set.

- EER and TAR at a FAR: raw cosine against protected agreement, where the attacker knows the
  key (the stolen-token scenario: the protected system is compared under one shared key).
- Unlinkability D_sys (Gomez-Barrero et al., IEEE TIFS 2018): can templates of one person
  protected under two tenants' keys be told from templates of different people? 0 means no.
  The label-shuffled baseline is what the estimator reports on data with nothing to find.
- Renewability: a person's template under the old key against the new key must look like an
  impostor's.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.core.biometrics.calibration import threshold_for_far
from gateway.core.biometrics.embeddings import normalise
from gateway.core.biometrics.protection import DEFAULT_SCHEME, Protector, Scheme, all_pairs_agreement
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population, SyntheticModel

Scores = npt.NDArray[np.float64]


def tar_at_far(genuine: Scores, impostor: Scores, far: float) -> float:
    threshold = threshold_for_far(impostor, far)
    return float(np.mean(np.asarray(genuine) > threshold))


def equal_error_rate(genuine: Scores, impostor: Scores) -> float:
    """The error rate where false accepts equal false rejects (scores: higher = more similar)."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    thresholds = np.unique(np.concatenate([g, i]))
    frr = np.searchsorted(g, thresholds, side="right") / len(g)  # genuine at or below: rejected
    far = 1 - np.searchsorted(i, thresholds, side="right") / len(i)  # impostors above: accepted
    k = int(np.argmin(np.abs(frr - far)))
    return float((frr[k] + far[k]) / 2)


def d_sys(mated: Scores, non_mated: Scores, bins: int = 40, omega: float = 1.0) -> float:
    """Global unlinkability D_sys in [0, 1] from mated and non-mated score samples (histograms)."""
    mated = np.asarray(mated, dtype=np.float64)
    non_mated = np.asarray(non_mated, dtype=np.float64)
    edges = np.linspace(min(mated.min(), non_mated.min()), max(mated.max(), non_mated.max()) + 1e-9, bins + 1)
    p_m = np.histogram(mated, edges)[0] / len(mated)
    p_nm = np.histogram(non_mated, edges)[0] / len(non_mated)
    # D(s) = p(mated|s) - p(non-mated|s) where the likelihood ratio favours mated, else 0.
    # With LR = p_m / p_nm that is (LR w - 1) / (LR w + 1) = (p_m w - p_nm) / (p_m w + p_nm).
    weighted = p_m * omega
    total = weighted + p_nm
    local = np.divide(weighted - p_nm, total, out=np.zeros_like(total), where=total > 0)
    return float(np.sum(np.clip(local, 0.0, 1.0) * p_m))


def shuffled_d_sys(mated: Scores, non_mated: Scores, seed: int = 0) -> float:
    """D_sys after shuffling the mated/non-mated labels: the estimator's floor on this sample size."""
    pooled = np.random.default_rng(seed).permutation(np.concatenate([mated, non_mated]))
    return d_sys(pooled[: len(mated)], pooled[len(mated) :])


@dataclass(frozen=True)
class Accuracy:
    eer: float
    tar_at_far_1e3: float
    tar_at_far_1e4: float

    @classmethod
    def of(cls, genuine: Scores, impostor: Scores) -> Accuracy:
        return cls(
            equal_error_rate(genuine, impostor),
            tar_at_far(genuine, impostor, 1e-3),
            tar_at_far(genuine, impostor, 1e-4),
        )


@dataclass(frozen=True)
class ProtectionReport:
    model: str
    people: int
    seed: int
    scheme: Scheme
    raw: Accuracy
    protected: Accuracy
    raw_masked: Accuracy
    protected_masked: Accuracy
    unlinkability_d_sys: float
    unlinkability_shuffled: float
    renewability_d_sys: float
    renewability_shuffled: float
    renewed_mean: float
    impostor_mean: float
    renewed_accept_rate: float  # old-key template accepted by new-key probe at the FAR 1e-4 threshold
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pairs(scores: Scores) -> tuple[Scores, Scores]:
    """Genuine (diagonal) and impostor (off-diagonal) scores of a square probe x gallery matrix."""
    genuine = np.diag(scores).copy()
    impostor = scores[~np.eye(len(scores), dtype=bool)]
    return genuine, impostor


def _non_mated_sample(scores: Scores, count: int, seed: int) -> Scores:
    rng = np.random.default_rng(seed)
    n = len(scores)
    rows = rng.integers(0, n, count)
    cols = (rows + rng.integers(1, n, count)) % n  # never the diagonal
    return np.asarray(scores[rows, cols], dtype=np.float64)


def evaluate_protection(
    model: SyntheticModel = SYNTHETIC_512,
    people: int = 3000,
    seed: int = 2026,
    scheme: Scheme = DEFAULT_SCHEME,
) -> ProtectionReport:
    population = Population.create(model, people, seed)
    everyone = np.arange(people)
    enrolled = population.captures(everyone, stream=0)
    probes = population.captures(everyone, stream=1)
    masked = population.captures(everyone, stream=2, masked=True)
    mean = np.concatenate([enrolled, probes]).mean(axis=0)

    def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> Scores:
        return (normalise(a - mean) @ normalise(b - mean).T).astype(np.float64)

    def seeded_key(name: str) -> bytes:  # keys from the seed: the whole report is reproducible
        return hashlib.sha256(f"facegate-eval|{seed}|{name}".encode()).digest()

    key = seeded_key("tenant-a")
    tenant = Protector(key, 1, model.name, mean, scheme)
    enrolled_codes = tenant.protect(enrolled)

    def protected(probe_codes: npt.NDArray[np.uint8]) -> Scores:
        return all_pairs_agreement(scheme, probe_codes, enrolled_codes)

    raw = Accuracy.of(*_pairs(cosine(probes, enrolled)))
    raw_masked = Accuracy.of(*_pairs(cosine(masked, enrolled)))
    prot = Accuracy.of(*_pairs(protected(tenant.protect(probes))))
    prot_masked = Accuracy.of(*_pairs(protected(tenant.protect(masked))))

    # Two tenants, independent keys, the same people.
    other = Protector(seeded_key("tenant-b"), 1, model.name, mean, scheme)
    cross = protected(other.protect(probes))
    mated, non_mated = np.diag(cross).copy(), _non_mated_sample(cross, 20 * people, seed)

    # The same tenant after rotating its key to version 2: old templates against new probes,
    # compared with different people across the same two versions (ISO/IEC 30136 renewability).
    renewed = protected(Protector(key, 2, model.name, mean, scheme).protect(probes))
    renewed_mated, renewed_non_mated = np.diag(renewed).copy(), _non_mated_sample(renewed, 20 * people, seed)
    same_key_impostors = _pairs(protected(tenant.protect(probes)))[1]
    threshold = threshold_for_far(same_key_impostors, 1e-4)

    return ProtectionReport(
        model=model.name,
        people=people,
        seed=seed,
        scheme=scheme,
        raw=raw,
        protected=prot,
        raw_masked=raw_masked,
        protected_masked=prot_masked,
        unlinkability_d_sys=d_sys(mated, non_mated),
        unlinkability_shuffled=shuffled_d_sys(mated, non_mated, seed),
        renewability_d_sys=d_sys(renewed_mated, renewed_non_mated),
        renewability_shuffled=shuffled_d_sys(renewed_mated, renewed_non_mated, seed),
        renewed_mean=float(renewed_mated.mean()),
        impostor_mean=float(same_key_impostors.mean()),
        renewed_accept_rate=float(np.mean(renewed_mated > threshold)),
        notes={"code_bytes": scheme.code_bytes},
    )
