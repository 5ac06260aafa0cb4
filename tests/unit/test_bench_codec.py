"""The codec benchmark runs, and both libraries it compares agree byte for byte (no timing asserted)."""

from __future__ import annotations

from bench.codec import Contenders, markdown, run, sample_datum
from gateway.contract.codec import HEADER_SIZE, default_codec
from gateway.contract.models import FaceCaptured


def test_both_libraries_produce_the_gateways_encoding() -> None:
    contenders = Contenders()
    datum = sample_datum()
    payload = default_codec().encode(FaceCaptured.model_validate(datum))
    assert contenders.avro_encode(datum) == contenders.fastavro_encode(datum) == payload[HEADER_SIZE:]


def test_benchmark_reports_rates_and_ratios() -> None:
    result = run(iterations=5, rounds=1)
    assert set(result["ops_per_second"]) == {
        "fastavro_encode",
        "fastavro_decode",
        "avro_encode",
        "avro_decode",
    }
    assert all(rate > 0 for rate in result["ops_per_second"].values())
    assert result["datum_bytes"] > 512 * 4
    assert "fastavro / avro" in markdown(result)
