r"""Looking for biometric data and keys where they must never be: a template's values, as raw
float32 bytes at any alignment, re-encoded or rounded, printed as numbers in text (a log line,
JSON, /metrics), or their bytes written in hex, base64, or as Python prints bytes (`%r`, `%s`, a
repr: how a library's log line or pydantic's `input_value` quotes a payload), that also once JSON
has escaped it (a reason quoting a payload, whole or a slice of it); and image bytes and the
keyring's keys in all those forms, a key also cut short (pydantic and YAML print a long value's
start and end only): any KEY_WINDOW bytes of a key are a leak.

A template leaks if any run of WINDOW consecutive values matches a run of a known template to
two decimals. Each run is packed into one 64-bit key, so a scan is a vectorised set lookup; so is
a key's: every 8 bytes of a blob are one 64-bit word, at each of the 8 alignments.
Hex and base64 are found as runs of their characters long enough to hold a run of values (or a
key's window), all of a blob's runs decoded at once at each phase a copy can start at, and
scanned as raw bytes are. Python's escapes (\xc3, \n, \\) are undone in one vectorised pass, and
again for each time JSON doubled the backslashes, in a piece with enough of them to hold a run.
Large blobs are scanned in overlapping pieces, so numpy's temporaries stay a few MiB.
Leaks are reported by where they were found, never by content.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

WINDOW = 8
# Bytes of a key that leak it: pydantic's `input_value` shows ~13 bytes of a base64 key (9 of a hex
# one) each side of "...", a YAML error's snippet a line cut at either end. 64 bits: no other data
# holds them by chance (one word: a scan is a set lookup of every 8 bytes of a blob). So a text
# secret given as a key must hold no word a log could hold ("password"): random characters.
KEY_WINDOW = 8
_NUMBER = re.compile(rb"-?\d*\.\d+(?:[eE][-+]?\d+)?")
# Pieces of a blob scanned at once, overlapping by more than a run of values takes however it is
# written: 32 bytes raw, 64 characters in hex, 48 in base64 at the worst phase, 128 as Python
# prints bytes, 160 once JSON has escaped that.
PIECE, _OVERLAP = 1 << 22, 256


def _all_of(mask: npt.NDArray[np.bool_], width: int) -> npt.NDArray[np.bool_]:
    """For each i, whether mask[i : i + width] is all true: shifted copies and-ed, doubling the width."""
    covered = 1
    while covered < width and len(mask):
        step = min(covered, width - covered)
        mask = mask[:-step] & mask[step:]
        covered += step
    return mask


def _keys(values: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """One key per run of WINDOW values; runs with a value outside (-1.27, 1.27) get none."""
    if len(values) < WINDOW:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.round(values * 100)
        usable = np.abs(scaled) <= 127  # false for NaN and infinities too
    starts = np.flatnonzero(_all_of(usable, WINDOW))
    keys = np.zeros(len(starts), dtype=np.uint64)
    nonzero = np.zeros(len(starts), dtype=np.int8)
    for j in range(WINDOW):  # value j of a run, quantised to 1..255, is byte j of its key
        column = scaled[starts + j]
        nonzero += column != 0
        keys |= (column + 128).astype(np.uint64) << np.uint64(8 * j)
    # A run must carry information: runs of (near) zeros are padding, not faces.
    return keys[nonzero >= WINDOW // 2]


def _table(alphabet: dict[bytes, int]) -> npt.NDArray[np.int16]:
    """Each byte's value as a digit of an encoding, or -1."""
    table = np.full(256, -1, dtype=np.int16)
    for chars, first in alphabet.items():
        table[np.frombuffer(chars, dtype=np.uint8)] = np.arange(first, first + len(chars))
    return table


_HEX = _table({b"0123456789": 0, b"abcdef": 10, b"ABCDEF": 10})
# Standard and URL-safe base64 at once; hex digits are base64 characters too.
_BASE64 = _table({string.ascii_uppercase.encode(): 0, string.ascii_lowercase.encode(): 26, b"0123456789": 52})
_BASE64[[ord("+"), ord("-")]] = 62
_BASE64[[ord("/"), ord("_")]] = 63
_ENCODED = _BASE64 >= 0
_MIN_RUN = -(-4 * WINDOW * 4 // 3)  # the fewest base64 characters that hold WINDOW float32s
_KEY_RUN = -(-KEY_WINDOW * 4 // 3)  # ... that hold a key's window


def _encoded_runs(data: npt.NDArray[np.uint8], min_run: int = _MIN_RUN) -> npt.NDArray[np.uint8]:
    """Every run of base64 (so also hex) characters at least `min_run` long (holding a template's
    run, or a key's window), each followed by a byte of neither, so that no run of values decoded
    from them spans two."""
    data = np.append(data, np.uint8(ord("!")))
    full = np.flatnonzero(_all_of(_ENCODED[data], min_run))  # few in binary data, unlike runs' edges
    if not len(full):
        return np.zeros(0, dtype=np.uint8)
    breaks = np.flatnonzero(np.diff(full) != 1)
    starts = full[np.concatenate(([0], breaks + 1))]
    lengths = full[np.concatenate((breaks, [-1]))] + min_run + 1 - starts  # with the byte that ends it
    first = np.cumsum(lengths) - lengths  # where each run starts in the result
    return data[np.repeat(starts - first, lengths) + np.arange(int(lengths.sum()))]


def _fours(good: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """For each four bytes (a float32), whether all are good: a bool is a byte of 0 or 1, so the
    four compare as one word (numpy's reduction over an axis of 4 is slow)."""
    return np.asarray(np.ascontiguousarray(good[: len(good) // 4 * 4]).view(np.uint32) == 0x01010101)


# Bytes decoded from encoded runs, and which of them came from encoded characters alone.
Decoded = list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]


def _decoded(runs: npt.NDArray[np.uint8]) -> Decoded:
    """The runs decoded as hex at both phases and as base64 at all four: a copy starts at one."""
    found: Decoded = []
    digits = _HEX[runs]
    for phase in range(2):
        high, low = digits[phase::2], digits[phase + 1 :: 2]
        high = high[: len(low)]
        found.append((((high << 4) | low).astype(np.uint8), (high >= 0) & (low >= 0)))
    sextets = _BASE64[runs]
    for phase in range(4):
        quads = sextets[phase : phase + (len(sextets) - phase) // 4 * 4].reshape(-1, 4).astype(np.int32)
        a, b, c, d = quads.T
        decoded = np.stack([(a << 2) | (b >> 4), ((b & 15) << 4) | (c >> 2), ((c & 3) << 6) | d], axis=1)
        # Each byte comes from two characters: a last quad padded with "=" still gives its first.
        ga, gb, gc, gd = (quads >= 0).T
        found.append((decoded.astype(np.uint8).ravel(), np.stack([ga & gb, gb & gc, gc & gd], axis=1).ravel()))
    return found


# The byte each one-letter escape of Python's (and JSON's) stands for.
_SIMPLE_ESCAPES = np.full(256, -1, dtype=np.int16)
for _letter, _byte in {"\\": 92, "'": 39, '"': 34, "n": 10, "r": 13, "t": 9, "/": 47}.items():
    _SIMPLE_ESCAPES[ord(_letter)] = _byte
_BACKSLASH, _X = ord("\\"), ord("x")
_ESCAPES = re.compile(rb"\\x[0-9a-fA-F]{2}")
# A run of values as Python prints it holds a dozen \x escapes (most bytes of a float32 are not
# printable), a key's window about five; random binary data has one in 8 MiB.
_MIN_ESCAPES = 4


def _unescaped(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    r"""The bytes that Python's (and JSON's) escapes stand for, everything else as it is: b'\xc3\x01o'
    gives C3 01 6F; JSON's b'\\xc3' gives b'\xc3', and a second pass C3. A backslash starts an
    escape unless one that does precedes it: in a run of backslashes, those at even offsets. Any
    other character after one is left as it is."""
    n = len(data)
    at = np.arange(n, dtype=np.int32)
    slash = data == _BACKSLASH
    run_start = np.maximum.accumulate(np.where(slash & ~np.r_[False, slash[:-1]], at, 0))
    starts = slash & ((at - run_start) & 1 == 0)
    after = np.r_[data, np.zeros(3, dtype=np.uint8)]
    letter, high, low = after[1 : n + 1], _HEX[after[2 : n + 2]], _HEX[after[3 : n + 3]]
    hexed = np.flatnonzero(starts & (letter == _X) & (high >= 0) & (low >= 0))
    simple = np.flatnonzero(starts & (_SIMPLE_ESCAPES[letter] >= 0))
    out = data.copy()
    out[hexed] = (high[hexed] << 4) | low[hexed]
    out[simple] = _SIMPLE_ESCAPES[letter[simple]]
    keep = np.ones(n, dtype=bool)
    keep[simple + 1] = False
    for skip in (1, 2, 3):  # the x and the two digits
        keep[hexed + skip] = False
    return out[keep]


# A word times an odd constant (one-to-one): its top bits depend on all of its bytes, so they sort
# text's words (ASCII bytes) as well as random ones.
_MIX, _TOP = np.uint64(0x9E3779B97F4A7C15), np.uint64(48)


def exception_chain(error: BaseException) -> dict[str, bytes]:
    """The str and repr of an exception and of every one it carries (__cause__, __context__), and
    pydantic's `errors()` (each input whole), as blobs to scan: `raise ... from None` hides the
    context from tracebacks only, and an error reporter that walks the chain shows it all."""
    blobs: dict[str, bytes] = {}
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        name = f"{len(seen)}. {type(current).__name__}"
        blobs[f"{name} str"] = str(current).encode(errors="backslashreplace")
        blobs[f"{name} repr"] = repr(current).encode(errors="backslashreplace")
        errors = getattr(current, "errors", None)
        if callable(errors):
            with contextlib.suppress(Exception):
                blobs[f"{name} errors()"] = repr(errors()).encode(errors="backslashreplace")
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return blobs


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


def _written(data: bytes) -> list[bytes]:
    """The forms bytes take in text: raw, as Python prints them (a message's `{key!r}`), hex
    (either case), and base64 (standard and URL-safe) at each of the three phases it can start at
    inside a longer encoding, without the last partial quad, so padded, unpadded and embedded
    copies are all found."""
    forms = {data, repr(data)[2:-1].encode(), data.hex().encode(), data.hex().upper().encode()}
    for skip in range(3):
        whole = data[skip : skip + (len(data) - skip) // 3 * 3]
        forms |= {base64.b64encode(whole), base64.urlsafe_b64encode(whole)}
    return sorted(forms - {b""})  # the empty form is in every blob


class LeakFinder:
    def __init__(self, templates: Iterable[bytes], images: Iterable[bytes] = (), keys: Iterable[bytes] = ()) -> None:
        runs = [_keys(np.frombuffer(t, dtype="<f4").astype(np.float64)) for t in templates]
        self.template_keys = np.unique(np.concatenate(runs)) if runs else np.zeros(0, dtype=np.uint64)
        # Each form once: every blob is searched for each (a scenario's captures share one image).
        self.images = sorted({form for image in images if len(image) >= 8 for form in _written(image)})
        keys = list(keys)
        self.secrets = sorted({form for key in keys for form in _written(key)})
        # Every KEY_WINDOW bytes of every key: a key cut short, or in a form the written ones miss
        # (printed as bytes inside a longer value, and that escaped by JSON).
        windows = {key[i : i + KEY_WINDOW] for key in keys for i in range(len(key) - KEY_WINDOW + 1)}
        self.key_words = np.unique(np.frombuffer(b"".join(windows), dtype="<u8"))
        # The top 16 bits of each window's word, mixed: most of a blob's words are let go by one
        # look-up in this table, the few left searched for (searchsorted is slow on millions).
        self.key_tops = np.zeros(1 << 16, dtype=bool)
        self.key_tops[((self.key_words * _MIX) >> _TOP).astype(np.intp)] = True

    def _hit(self, values: npt.NDArray[np.float64]) -> bool:
        found = _keys(values)
        if not len(found) or not len(self.template_keys):
            return False
        # template_keys is sorted and unique: a binary search, not isin's hashing of it on every call.
        at = np.minimum(np.searchsorted(self.template_keys, found), len(self.template_keys) - 1)
        return bool((self.template_keys[at] == found).any())

    def _in_bytes(self, data: npt.NDArray[np.uint8], good: npt.NDArray[np.bool_] | None = None) -> bool:
        """Whether float32s at any alignment hold a template's run; a value with a byte that is not
        `good` (decoded from something else) is none."""
        for shift in range(4):
            usable = (len(data) - shift) // 4 * 4
            if usable < 4 * WINDOW:
                continue
            with np.errstate(invalid="ignore"):  # arbitrary bytes hold signalling NaNs
                values = data[shift : shift + usable].view("<f4").astype(np.float64)
            if good is not None:
                values[~_fours(good[shift : shift + usable])] = np.nan
            if self._hit(values):
                return True
        return False

    def _holds_key(self, data: npt.NDArray[np.uint8], good: npt.NDArray[np.bool_] | None = None) -> bool:
        """Whether KEY_WINDOW bytes at any offset are a key's (all of them `good`, if given)."""
        if not len(self.key_words):
            return False
        for shift in range(KEY_WINDOW):
            words = data[shift : shift + (len(data) - shift) // KEY_WINDOW * KEY_WINDOW].view("<u8")
            maybe = np.flatnonzero(self.key_tops[((words * _MIX) >> _TOP).astype(np.intp)])
            at = np.minimum(np.searchsorted(self.key_words, words[maybe]), len(self.key_words) - 1)
            for k in maybe[self.key_words[at] == words[maybe]]:
                if good is None or good[shift + KEY_WINDOW * k : shift + KEY_WINDOW * (k + 1)].all():
                    return True
        return False

    def _in_bytes_or_key(self, data: npt.NDArray[np.uint8], good: npt.NDArray[np.bool_] | None = None) -> bool:
        return self._in_bytes(data, good) or self._holds_key(data, good)

    def _escaped(self, piece: npt.NDArray[np.uint8], written: bytes | memoryview) -> bool:
        """A template, image or key's window as Python prints bytes, or that escaped again by JSON
        (a JSON string in a JSON log line: once more). A key shorter than a window is looked for
        in its written forms only."""
        for _ in range(3):
            if len(_ESCAPES.findall(written)) < _MIN_ESCAPES:
                return False
            piece = _unescaped(piece)
            written = piece.tobytes()
            if self._in_bytes_or_key(piece) or any(image in written for image in self.images):
                return True
        return False

    def holds(self, blob: bytes) -> bool:
        """A template raw, printed as numbers, or its bytes in hex, base64 or as Python prints
        bytes; a key's window in any of those forms but numbers; an image printed as bytes inside
        a longer value, or escaped again by JSON (its other forms: `leaks`)."""
        if self._hit(np.array([float(m) for m in _NUMBER.findall(blob)], dtype=np.float64)):
            return True
        view = memoryview(blob)
        min_run = _KEY_RUN if len(self.key_words) else _MIN_RUN
        for start in range(0, max(len(blob) - _OVERLAP, 1), PIECE):
            end = start + PIECE + _OVERLAP
            piece = np.frombuffer(view[start:end], dtype=np.uint8)
            if self._in_bytes_or_key(piece) or any(
                self._in_bytes_or_key(*d) for d in _decoded(_encoded_runs(piece, min_run))
            ):
                return True
            if self._escaped(piece, view[start:end]):
                return True
        return False

    def leaks(self, blobs: Mapping[str, bytes]) -> list[str]:
        """Names of the blobs that hold a template (exactly or nearly), an image or a key."""
        return [
            name for name, blob in blobs.items()
            if any(found in blob for found in (*self.images, *self.secrets)) or self.holds(blob)
        ]  # fmt: skip
