"""Micro-benchmark: Avro libraries on the records the worker reads and writes most.

FaceCaptured (a 512-d template) is what it decodes for every capture; AuditRecord (a FORWARDED
decision with its legal sources) what it encodes for every decision. Apache Avro, fastavro and
cavro encode each datum to the same bytes (checked) and decode it back; the figures that matter
are the ratios, measured in one run on one machine.
Usage: python -m bench.codec [--iterations N] [--rounds N]
Writes bench/results/codec.json and bench/results/codec.md.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import avro.io
import avro.schema
import cavro
import fastavro

from bench.results import write_results
from gateway.contract.codec import WRITING_OPTIONS
from gateway.contract.schemas import SchemaSet

LIBRARIES = ("fastavro", "cavro", "avro")
OPERATIONS = ("encode", "decode")


def sample_datum() -> dict[str, Any]:
    return {
        "event_id": "evt-00000001",
        "camera_id": "cam-sales-office-1",
        "tenant_id": "acme",
        "captured_at": datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
        "purpose": "ACCESS_CONTROL",
        "template": struct.pack("<512f", *[(i % 97) / 97 - 0.5 for i in range(512)]),
        "template_model": "synthetic-512",
        "quality": 0.91,
        "occlusion": "NONE",
        "image": None,
        "age_estimate": 34,
    }


def sample_audit_datum() -> dict[str, Any]:
    """A FORWARDED decision's audit record as the scenario's captures produce it (913 bytes)."""
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    sources = {
        "R01": ["PIPL Art. 28(1)", "PIPL Art. 29 [legal review]", "CAC FRT Measures Art. 6 [legal review]",
                "SPC FRT Provisions Art. 2(3)", "SPC FRT Provisions Art. 4 [legal review]",
                "GB/T 35273-2020 §5.4 [legal review]"],
        "R02": ["PIPL Art. 17(1)", "PIPL Art. 30 [legal review]", "CAC FRT Measures Art. 5",
                "SPC FRT Provisions Art. 2(2)"],
        "R08": ["PIPL Art. 51(3)", "CAC FRT Measures Art. 14 [legal review]", "ISO/IEC 24745 [legal review]"],
    }  # fmt: skip
    return {
        "audit_id": "a-1f14a9c58ba0a25f5ee06760272af609", "event_id": "evt-2026-1-00000001",
        "tenant_id": "acme", "camera_id": "acme-entrance", "site_id": "acme-site-1",
        "event_time": datetime(2026, 11, 26, 9, 0, 0, 200000, tzinfo=UTC), "recorded_at": at,
        "purpose": "REPEAT_VISITOR_RECOGNITION", "decision": "FORWARDED", "rule_ids": list(sources),
        "reason_codes": [], "alerts": [],
        "legal_sources": [f"{rule}: {source}" for rule, cited in sources.items() for source in cited],
        "pack_id": "pipl-cn", "pack_version": "2025-06-01",
        "policy_version": "pipl-cn@2025-06-01/development/d43ba83d39eb",
        "subject_pseudonym": "r1-787d157bffb954a503d78c0178fef723", "consent_ref": "c-1e9a8b7865de79ee68233e75",
        "consent_method": None, "evidence_ref": None, "verified_by": None, "recipient_tenant_id": None,
        "match_score_band": "0.80-0.85",
        "reference_database": "acme enrolled synthetic-512: 20 subjects, key versions [1]",
        "use_started_at": at, "use_ended_at": at, "seq": 0, "prev_hash": "0" * 64,
        "hash": "ac208f14a023d6ecdf3379ea8484f895ee9883fe70d7f63d18850a1280f320c4",
        "signature": None, "key_id": None,
    }  # fmt: skip


class Contenders:
    """Encode/decode closures for each library over one composed schema of the contract."""

    def __init__(self, record: str = "FaceCaptured") -> None:
        schema = SchemaSet.load()[record]
        self.fast_schema = schema.parsed
        self.cavro_schema = cavro.Schema(schema.schema, options=WRITING_OPTIONS)  # as the gateway's codec writes
        self.avro_schema = avro.schema.parse(json.dumps(schema.schema))
        self.avro_writer = avro.io.DatumWriter(self.avro_schema)
        self.avro_reader = avro.io.DatumReader(self.avro_schema)

    def fastavro_encode(self, datum: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self.fast_schema, datum)
        return out.getvalue()

    def fastavro_decode(self, data: bytes) -> Any:
        return fastavro.schemaless_reader(io.BytesIO(data), self.fast_schema, None)

    def cavro_encode(self, datum: dict[str, Any]) -> bytes:
        return bytes(self.cavro_schema.binary_encode(datum))

    def cavro_decode(self, data: bytes) -> Any:
        return self.cavro_schema.binary_decode(data)

    def avro_encode(self, datum: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        self.avro_writer.write(datum, avro.io.BinaryEncoder(out))
        return out.getvalue()

    def avro_decode(self, data: bytes) -> Any:
        return self.avro_reader.read(avro.io.BinaryDecoder(io.BytesIO(data)))

    def operation(self, library: str, operation: str) -> Callable[[Any], Any]:
        return getattr(self, f"{library}_{operation}")  # type: ignore[no-any-return]


def _rate(fn: Callable[[], object], iterations: int, rounds: int) -> float:
    """Median operations per second over `rounds` timed loops of `iterations` calls."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        rates.append(iterations / (time.perf_counter() - start))
    return statistics.median(rates)


def _measure(record: str, datum: dict[str, Any], iterations: int, rounds: int) -> dict[str, Any]:
    c = Contenders(record)
    encoded = c.fastavro_encode(datum)
    for library in LIBRARIES:
        if c.operation(library, "encode")(datum) != encoded:
            raise AssertionError(f"{library} and fastavro disagree on the encoding of {record}")
        decoded = c.operation(library, "decode")(encoded)
        if any(
            decoded[k] != datum[k] for k in ("event_id", "tenant_id", "template" if "template" in datum else "rule_ids")
        ):
            raise AssertionError(f"{library} does not decode {record} back")
    rates: dict[str, float] = {}
    for library in LIBRARIES:
        n = max(1, iterations // 10) if library == "avro" else iterations  # the pure-Python one is slow
        rates[f"{library}_encode"] = _rate(partial(c.operation(library, "encode"), datum), n, rounds)
        rates[f"{library}_decode"] = _rate(partial(c.operation(library, "decode"), encoded), n, rounds)
    return {"datum_bytes": len(encoded), "ops_per_second": rates}


def run(iterations: int = 2000, rounds: int = 5) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "versions": {"fastavro": fastavro.__version__, "cavro": cavro.__version__, "avro": avro.__version__},
        "records": {
            "FaceCaptured": _measure("FaceCaptured", sample_datum(), iterations, rounds),
            "AuditRecord": _measure("AuditRecord", sample_audit_datum(), iterations, rounds),
        },
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Avro codecs on the records the worker decodes and encodes most",
        "",
        f"Python {result['python']} ({result['machine']}); "
        + ", ".join(f"{lib} {version}" for lib, version in result["versions"].items())
        + ". Operations per second, one process; every library writes the same bytes.",
        "",
        "| record | library | encode ops/s | decode ops/s | encode / fastavro | decode / fastavro |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for record, measured in result["records"].items():
        r = measured["ops_per_second"]
        for library in LIBRARIES:
            encode, decode = r[f"{library}_encode"], r[f"{library}_decode"]
            lines.append(
                f"| {record} ({measured['datum_bytes']:,} bytes) | {library} | {encode:,.0f} | {decode:,.0f} | "
                f"{encode / r['fastavro_encode']:.2f}x | {decode / r['fastavro_decode']:.2f}x |"
            )
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = run(args.iterations, args.rounds)
    write_results("codec", result, markdown(result))


if __name__ == "__main__":
    main()
