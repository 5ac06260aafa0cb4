"""Coverage-guided fuzzing (atheris) of every input topic: the wire decoder and the decision behind it.

    python tests/fuzz/fuzz_decoder.py -runs=50000

Each input becomes one record on one of the worker's input topics (a vendor's captures, a
tenant's consent, enrollment, share-request or camera topic, also a tenant the production keyring
holds no keys for), with a key the fuzz chooses, and is decided as the worker decides it
(Context.decide_each). Whatever the bytes: decoding raises nothing but a typed DecodeError; the
record ends in one decision (none for a camera registration applied, and a refused consent
version that may withdraw is rejected and erased); no error but a tenant without keys is raised while deciding (any other
is a bug the worker would turn into INTERNAL_ERROR); and a dead letter never carries the input.
A crash or an assertion here is a finding; atheris saves the input that caused it.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: tests.support
with atheris.instrument_imports():
    from gateway.contract.codec import DecodeError, default_codec
    from gateway.contract.topics import TopicNames
    from gateway.core.context import Context
    from gateway.core.lifecycle.dispatch import decide_records
    from gateway.core.messages import InputRecord
    from gateway.core.pipeline import process_batch
    from gateway.core.state import GatewayState
    from gateway.files.calibrations import shipped
    from gateway.files.policies import development_policy
    from gateway.keyring import Keyring
    from tests.support.fuzzed import NOW, record_of, seed_corpus

CODEC = default_codec()
NAMES = TopicNames()
STATE = GatewayState(
    keyring=Keyring.generate(["acme", "beta"]),  # production-like: no keys for any other tenant
    fallback_policy=development_policy,
    calibrations=shipped(),
)


def one_input(data: bytes) -> None:
    made = record_of(data)
    if made is None:
        return
    kind, owner, key, value = made
    topic = f"{NAMES.prefix}{kind}.{owner}"
    with contextlib.suppress(DecodeError):  # the only exception decoding may raise
        CODEC.decode_any(value or b"")
    ctx = Context(STATE, NAMES, {}, lambda p, e: False, NOW, 1)
    capture = NAMES.vendor_of(topic) is not None
    ctx.decide_each([InputRecord(topic, 0, 7, value, 0, key)], process_batch if capture else decide_records)
    result = ctx.result
    assert all(e.startswith("MissingKeyError") for e in result.errors), f"a bug on {topic}: {result.errors}"
    registry = kind == "cameras"
    decisions = [outcome.decision.value for _, outcome in result.decisions]
    # A consent version that is refused yet may withdraw (it does not decode, say) is also erased.
    refused_erasure = kind == "consent" and decisions == ["REJECTED", "ERASED"]
    assert len(decisions) == 1 or refused_erasure or (registry and not decisions), f"{decisions} on {topic}"
    for output in result.outputs:
        if output.topic == NAMES.rejected and value is not None and len(value) >= 16:
            assert value not in (output.value or b""), "a dead letter never carries the input"


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:] if not a.startswith("-") and Path(a).is_dir()]
    for folder in folders:
        if not any(folder.iterdir()):
            seed_corpus(folder)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
