"""Raw templates on the wire are little-endian float32 vectors; this turns them into checked arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gateway.errors import FaceGateError

Vectors = npt.NDArray[np.float32]


class TemplateError(FaceGateError, ValueError):
    """A template that cannot be used: wrong size, not finite, or zero. Never quotes the values."""


def to_bytes(vectors: npt.ArrayLike) -> bytes:
    return np.ascontiguousarray(vectors, dtype="<f4").tobytes()


def from_bytes(data: bytes, dim: int) -> Vectors:
    """One template as a float32 vector of `dim` values."""
    if len(data) != 4 * dim:
        raise TemplateError(f"template has {len(data) // 4} values, the model calibration expects {dim}")
    vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(vector).all():  # the methods: np.all and np.any cost a Python wrapper each
        raise TemplateError("template holds NaN or infinite values")
    if not vector.any():
        raise TemplateError("template is all zeros")
    return vector


def normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
