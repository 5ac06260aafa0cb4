"""The leak finder itself: it must find what it is for, and nothing in clean data."""

from __future__ import annotations

import base64
import hashlib
import json
import logging

import numpy as np
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.keyring import Keyring
from tests.support.leaks import KEY_WINDOW, PIECE, LeakFinder, keyring_keys

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


def test_it_finds_a_template_written_in_hex_or_base64_whole_or_in_part() -> None:
    # A reason or a log line quoting a payload writes its bytes so: a copy may start at any byte of
    # the template, and next to other characters of the encoding, so at any phase of it.
    template = TEMPLATES[2]
    window = template[101:165]  # 64 bytes, not at a float's boundary
    blobs = {
        "hex": b"reason: bad payload " + template.hex().encode(),
        "hex window, upper case, after a hex digit": b"id=abc" + window.hex().upper().encode() + b"def",
        "base64": b'{"template": "' + base64.b64encode(template) + b'"}',
        "url-safe base64 window, unpadded": b"t=" + base64.urlsafe_b64encode(window).rstrip(b"="),
        "a payload's tail in hex": b"rejected: DECODE_BAD_FIELD " + (b"\x02acme" + template)[-220:].hex().encode(),
    }
    for skip in range(1, 3):  # inside a longer encoding, at each of base64's other phases
        blobs[f"base64 window at phase {skip}"] = base64.b64encode(b"\x00" * skip + window + b"\x07tail")
    assert sorted(FINDER.leaks(blobs)) == sorted(blobs)


def test_it_finds_an_image_in_hex_or_base64_and_copies_across_a_large_blobs_pieces() -> None:
    encoded = {"hex": IMAGE.hex().encode(), "base64, inside a longer encoding": base64.b64encode(b"x" + IMAGE)}
    assert sorted(FINDER.leaks(encoded)) == sorted(encoded)
    # A large blob is scanned in pieces of PIECE bytes: a copy across two is found all the same.
    filler = np.random.default_rng(3).bytes(PIECE)
    window = TEMPLATES[0][200:232]  # one run of values: no piece holds it whole but one overlapping both
    for written in (window, window.hex().encode(), base64.b64encode(window), repr(window).encode()):
        for at in (PIECE - len(written) // 2, PIECE - 3):
            assert FINDER.leaks({"large": filler[:at] + written + filler[:256]}) == ["large"], (len(written), at)


def test_it_finds_nothing_in_clean_hex_or_base64() -> None:
    other = to_bytes(POP.captures([3], stream=9, noise=0.3)[0])  # a template not in the finder
    rng = np.random.default_rng(2)
    clean = {
        "another template, encoded": other.hex().encode() + b" " + base64.b64encode(other),
        "digests": b"\n".join(hashlib.sha256(bytes([i])).hexdigest().encode() for i in range(256)),
        "random hex": rng.bytes(100_000).hex().encode(),
        "random base64": base64.b64encode(rng.bytes(200_000)),
        "random URL-safe base64 lines": b"\n".join(base64.urlsafe_b64encode(rng.bytes(57)) for _ in range(2000)),
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
        "printed as bytes": f"ValueError: not {keys[0]!r}".encode(),
        "base64, inside a longer encoding": base64.b64encode(b"\x01" + keys[1] + b"\x02"),
    }
    assert sorted(finder.leaks(forms)) == sorted(forms)
    assert (
        finder.leaks({"the keyring's other fields": b'"current": 1, "activated_at"', "random": bytes(range(256))}) == []
    )


def test_it_finds_a_template_printed_as_python_prints_bytes_and_that_escaped_by_json() -> None:
    # How a library's log line or a repr quotes a payload: `%r` or `%s` of bytes (aiokafka's
    # "Sending (key=%s value=%s)", Faust's Event, a dataclass), in a JSON log line escaped again.
    template = TEMPLATES[0]
    payload = b"\xc3\x01" + bytes(8) + template
    sending = "Sending (key=%s value=%s) to %s"  # aiokafka/producer/producer.py
    blobs = {
        "repr": repr(template).encode(),
        "a slice, quotes escaped": repr(b"\x00'\"" + template[101:229] + b"\\tail").encode(),
        "aiokafka's debug line": logging.makeLogRecord({"msg": sending, "args": (b"1", payload, "t")})
        .getMessage()
        .encode(),
        "a bytearray": repr(bytearray(template)).encode(),
        "in a JSON log line": json.dumps({"message": f"value={payload!r}"}).encode(),
        "JSON in a JSON log line": json.dumps({"message": json.dumps({"value": repr(payload)})}).encode(),
    }
    assert sorted(FINDER.leaks(blobs)) == sorted(blobs)


def _said(value: object) -> str:
    """What pydantic says of a value that is not what a field takes: it quotes the value, cut short."""

    class Model(BaseModel):
        number: int

    with pytest.raises(ValidationError) as caught:
        Model(number=value)
    return str(caught.value)


def test_it_finds_a_key_cut_short_as_pydantic_and_yaml_print_it_and_printed_as_bytes_in_json() -> None:
    keys = keyring_keys(Keyring.generate(["acme"]).export())
    finder = LeakFinder([], [], keys)
    written = base64.b64encode(keys[0]).decode()
    try:
        yaml.safe_load(f"regulator_pseudonym:\n  versions:\n    1: {written}: a slip\n")
    except yaml.YAMLError as exc:
        snippet = str(exc)
    forms = {
        "pydantic, a key in a mapping": _said({"1": written}),
        "pydantic, a hex key in a mapping": _said({"1": keys[1].hex()}),
        "YAML's snippet of the line": snippet,
        "printed as bytes in a longer value, in a JSON log": json.dumps({"message": repr(b"k=" + keys[2] + b"x")}),
        "a window of a key in URL-safe base64": base64.urlsafe_b64encode(keys[3][5 : 5 + KEY_WINDOW + 1]).decode(),
    }
    for name in ("pydantic, a key in a mapping", "pydantic, a hex key in a mapping", "YAML's snippet of the line"):
        assert "..." in forms[name] and written not in forms[name] and keys[1].hex() not in forms[name], name
    assert sorted(finder.leaks({name: text.encode() for name, text in forms.items()})) == sorted(forms)


def test_it_finds_nothing_in_clean_bytes_printed_by_python() -> None:
    other = to_bytes(POP.captures([3], stream=9, noise=0.3)[0])  # a template not in the finder
    rng = np.random.default_rng(4)
    clean = {
        "another template, printed": repr(other).encode() + json.dumps(repr(other)).encode(),
        "random bytes, printed": repr(rng.bytes(100_000)).encode(),
        "random bytes, printed in JSON lines": "\n".join(json.dumps(repr(rng.bytes(300))) for _ in range(300)).encode(),
        "escapes that are not": b"C:\\xylophone \\\\server\\x1 \\n\\t \\xzz \\" * 2000,
        "random": rng.bytes(200_000),
        "random base64 and hex": base64.b64encode(rng.bytes(100_000)) + rng.bytes(50_000).hex().encode(),
    }
    with_keys = LeakFinder(TEMPLATES, [IMAGE], keyring_keys(Keyring.generate(["acme", "beta"]).export()))
    assert FINDER.leaks(clean) == [] and with_keys.leaks(clean) == []
