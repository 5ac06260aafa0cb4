"""The leak finder itself: it must find what it is for, and nothing in clean data."""

from __future__ import annotations

import base64
import json

import numpy as np

from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.keyring import Keyring
from tests.support.leaks import LeakFinder, keyring_keys

POP = Population.create(SYNTHETIC_512, 4, 3)
TEMPLATES = [to_bytes(v) for v in POP.captures([0, 1, 2], stream=0, noise=0.3)]
IMAGE = b"\xff\xd8\xff\xe0 a face crop"
FINDER = LeakFinder(TEMPLATES, [IMAGE])


def test_it_finds_raw_bytes_printed_floats_rounded_floats_and_images() -> None:
    values = np.frombuffer(TEMPLATES[1], dtype="<f4")
    blobs = {
        "raw": b"header" + TEMPLATES[1][100:300] + b"trailer",
        "log": ("template=" + json.dumps([round(float(v), 6) for v in values[40:90]])).encode(),
        "float64": np.round(values[64:96].astype("<f8"), 4).astype("<f4").tobytes()[1:] + b"x",
        "image": b"avro..." + IMAGE + b"...",
    }
    assert sorted(FINDER.leaks(blobs)) == ["float64", "image", "log", "raw"]


def test_it_finds_nothing_in_clean_data() -> None:
    other = to_bytes(POP.captures([3], stream=9, noise=0.3)[0])  # a template not in the finder
    clean = {
        "other template": other,
        "metrics": b'facegate_decisions_total{tenant="acme",decision="FORWARDED"} 12.0\nlatency 0.0021 0.0043',
        "random": np.random.default_rng(1).bytes(20_000),
    }
    assert FINDER.leaks(clean) == []


def test_it_finds_every_key_of_a_keyring_in_every_form_text_takes() -> None:
    document = Keyring.generate(["acme"]).export()
    keys = keyring_keys(document)
    assert len(keys) == 4 and all(len(k) == 32 for k in keys), "protection, pseudonym, regulator, signing"
    finder = LeakFinder([], [], keys)
    forms = {
        "raw": b"x" + keys[0] + b"y",
        "base64": b'{"key": "' + base64.b64encode(keys[1]) + b'"}',
        "url-safe, unpadded": base64.urlsafe_b64encode(keys[2]).rstrip(b"="),
        "hex": b"key=" + keys[3].hex().upper().encode(),
    }
    assert sorted(finder.leaks(forms)) == sorted(forms)
    assert (
        finder.leaks({"the keyring's other fields": b'"current": 1, "activated_at"', "random": bytes(range(256))}) == []
    )
