"""Coverage-guided fuzzing (atheris) of the wire decoder and the batch pipeline behind it.

    python tests/fuzz/fuzz_decoder.py -runs=50000

Any bytes on faces.raw must end as a typed DecodeError (never another exception), and the
pipeline must turn them into one REJECTED audit record and a dead letter that does not carry
the input. A crash or an assertion here is a finding; atheris saves the input that caused it.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports():
    from gateway.contract.codec import DecodeError, default_codec
    from gateway.contract.models import FaceCaptured
    from gateway.contract.topics import TopicNames
    from gateway.core.context import Context
    from gateway.core.messages import InputRecord
    from gateway.core.pipeline import process_batch
    from gateway.core.state import GatewayState
    from gateway.files.calibrations import shipped
    from gateway.files.policies import development_policy
    from gateway.keyring import Keyring

CODEC = default_codec()
NAMES = TopicNames()
STATE = GatewayState(
    keyring=Keyring.model_validate({"development_master": b"f" * 32}),
    fallback_policy=development_policy,
    calibrations=shipped(),
)
NOW = datetime(2026, 11, 26, tzinfo=UTC)
# Valid records to mutate from: atheris mutates these seeds' bytes too.
SEED = CODEC.encode(
    FaceCaptured(
        event_id="e-1", camera_id="c-1", tenant_id="acme", captured_at=NOW, purpose="SECURITY",
        template=b"\x00\x00\x80\x3f" * 512, template_model="synthetic-512", quality=0.9, occlusion="NONE",
    )
)  # fmt: skip


def one_input(data: bytes) -> None:
    if len(data) > 64 and data[0] & 1:  # half the time, splice the fuzz into a valid header
        data = SEED[:10] + data[10:]
    with contextlib.suppress(DecodeError):  # the only exception decoding may raise
        CODEC.decode(data, FaceCaptured)
    result = process_batch(
        [InputRecord(NAMES.captures("lumen"), 0, 7, data)], Context(STATE, NAMES, {}, lambda p, e: False, NOW, 1)
    )
    assert len(result.decisions) == 1, "one decision per input"
    for output in result.outputs:
        if output.topic == NAMES.rejected and len(data) >= 16:
            assert data not in (output.value or b""), "a dead letter never carries the input"


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
