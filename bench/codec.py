"""Micro-benchmark: Apache Avro vs fastavro on a FaceCaptured record with a 512-d template.

Both libraries encode the same datum to the same bytes (checked); the figure that matters is
the ratio, measured in one run on one machine. Usage: python -m bench.codec [--rounds N]
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
from typing import Any

import avro.io
import avro.schema
import fastavro

from bench.results import write_results
from gateway.contract.schemas import SchemaSet


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


class Contenders:
    """Encode/decode closures for each library over the composed FaceCaptured schema."""

    def __init__(self) -> None:
        schema = SchemaSet.load()["FaceCaptured"]
        self.fast_schema = schema.parsed
        self.avro_schema = avro.schema.parse(json.dumps(schema.schema))
        self.avro_writer = avro.io.DatumWriter(self.avro_schema)
        self.avro_reader = avro.io.DatumReader(self.avro_schema)

    def fastavro_encode(self, datum: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self.fast_schema, datum)
        return out.getvalue()

    def fastavro_decode(self, data: bytes) -> Any:
        return fastavro.schemaless_reader(io.BytesIO(data), self.fast_schema, None)

    def avro_encode(self, datum: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        self.avro_writer.write(datum, avro.io.BinaryEncoder(out))
        return out.getvalue()

    def avro_decode(self, data: bytes) -> Any:
        return self.avro_reader.read(avro.io.BinaryDecoder(io.BytesIO(data)))


def _rate(fn: Callable[[], object], iterations: int, rounds: int) -> float:
    """Median operations per second over `rounds` timed loops of `iterations` calls."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        rates.append(iterations / (time.perf_counter() - start))
    return statistics.median(rates)


def run(iterations: int = 2000, rounds: int = 5) -> dict[str, Any]:
    c = Contenders()
    datum = sample_datum()
    encoded = c.fastavro_encode(datum)
    if c.avro_encode(datum) != encoded:
        raise AssertionError("avro and fastavro disagree on the encoding")
    if c.avro_decode(encoded)["template"] != c.fastavro_decode(encoded)["template"]:
        raise AssertionError("avro and fastavro disagree on the decoding")
    rates = {
        "fastavro_encode": _rate(lambda: c.fastavro_encode(datum), iterations, rounds),
        "fastavro_decode": _rate(lambda: c.fastavro_decode(encoded), iterations, rounds),
        "avro_encode": _rate(lambda: c.avro_encode(datum), max(1, iterations // 10), rounds),
        "avro_decode": _rate(lambda: c.avro_decode(encoded), max(1, iterations // 10), rounds),
    }
    return {
        "record": "FaceCaptured",
        "template_dimensions": 512,
        "datum_bytes": len(encoded),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "ops_per_second": rates,
        "fastavro_over_avro": {
            "encode": rates["fastavro_encode"] / rates["avro_encode"],
            "decode": rates["fastavro_decode"] / rates["avro_decode"],
        },
    }


def markdown(result: dict[str, Any]) -> str:
    r = result["ops_per_second"]
    ratio = result["fastavro_over_avro"]
    return "\n".join(
        [
            f"# Avro codecs on {result['record']} ({result['template_dimensions']}-d template, "
            f"{result['datum_bytes']} bytes)",
            "",
            "| library | encode ops/s | decode ops/s |",
            "|---|---:|---:|",
            f"| fastavro | {r['fastavro_encode']:,.0f} | {r['fastavro_decode']:,.0f} |",
            f"| avro (Apache) | {r['avro_encode']:,.0f} | {r['avro_decode']:,.0f} |",
            f"| fastavro / avro | {ratio['encode']:.1f}x | {ratio['decode']:.1f}x |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = run(args.iterations, args.rounds)
    write_results("codec", result, markdown(result))


if __name__ == "__main__":
    main()
