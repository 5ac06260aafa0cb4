"""Looking for biometric data and keys where they must never be: a template's values, as raw
float32 bytes at any alignment, re-encoded or rounded, or printed as numbers in text (a log line,
JSON, /metrics); image bytes; and the keyring's keys, raw, in base64 or in hex.

A template leaks if any run of WINDOW consecutive values matches a run of a known template to
two decimals. Each run is packed into one 64-bit key, so a scan is a vectorised set lookup.
Leaks are reported by where they were found, never by content.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

WINDOW = 8
_NUMBER = re.compile(rb"-?\d*\.\d+(?:[eE][-+]?\d+)?")


def _keys(values: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """One key per run of WINDOW values; runs with a value outside (-1.27, 1.27) get none."""
    if len(values) < WINDOW:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.round(values * 100)
    usable = np.isfinite(scaled) & (np.abs(scaled) <= 127)
    quantised = np.where(usable, scaled + 128, 0).astype(np.uint64)
    runs = sliding_window_view(quantised, WINDOW)
    # A run must be usable and carry information: runs of (near) zeros are padding, not faces.
    informative = sliding_window_view(usable & (scaled != 0), WINDOW).sum(axis=1) >= WINDOW // 2
    valid = sliding_window_view(usable, WINDOW).all(axis=1) & informative
    shifts = np.arange(WINDOW, dtype=np.uint64) * np.uint64(8)
    keys = np.bitwise_or.reduce(runs << shifts, axis=1)
    return np.asarray(keys[valid], dtype=np.uint64)


def keyring_keys(document: str) -> list[bytes]:
    """Every key of a keyring document (each version of each key), as bytes."""
    found: list[bytes] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "versions" and isinstance(value, dict):
                    found.extend(base64.b64decode(key) for key in value.values())
                else:
                    walk(value)

    walk(json.loads(document))
    return found


def _written(key: bytes) -> list[bytes]:
    """The forms a key takes in text: raw, base64 (standard and URL-safe, padded or not), hex."""
    forms = {key, key.hex().encode(), key.hex().upper().encode()}
    for encoded in (base64.b64encode(key), base64.urlsafe_b64encode(key)):
        forms |= {encoded, encoded.rstrip(b"=")}
    return sorted(forms)


class LeakFinder:
    def __init__(self, templates: Iterable[bytes], images: Iterable[bytes] = (), keys: Iterable[bytes] = ()) -> None:
        runs = [_keys(np.frombuffer(t, dtype="<f4").astype(np.float64)) for t in templates]
        self.template_keys = np.unique(np.concatenate(runs)) if runs else np.zeros(0, dtype=np.uint64)
        self.images = [image for image in images if len(image) >= 8]
        self.secrets = [form for key in keys for form in _written(key)]

    def _hit(self, values: npt.NDArray[np.float64]) -> bool:
        return bool(np.isin(_keys(values), self.template_keys, assume_unique=False).any())

    def holds_template(self, blob: bytes) -> bool:
        for shift in range(4):
            usable = (len(blob) - shift) // 4 * 4
            if usable < 4 * WINDOW:
                continue
            with np.errstate(invalid="ignore"):  # arbitrary bytes hold signalling NaNs
                values = np.frombuffer(blob[shift : shift + usable], dtype="<f4").astype(np.float64)
            if self._hit(values):
                return True
        numbers = [float(m) for m in _NUMBER.findall(blob)]
        return self._hit(np.array(numbers, dtype=np.float64))

    def leaks(self, blobs: Mapping[str, bytes]) -> list[str]:
        """Names of the blobs that hold a template (exactly or nearly), an image or a key."""
        return [
            name for name, blob in blobs.items()
            if self.holds_template(blob) or any(found in blob for found in (*self.images, *self.secrets))
        ]  # fmt: skip
