"""The codec benchmark runs, and the libraries it compares agree byte for byte (no timing asserted)."""

from __future__ import annotations

from bench.codec import LIBRARIES, OPERATIONS, Contenders, markdown, run, sample_audit_datum, sample_datum
from gateway.contract.codec import HEADER_SIZE, default_codec
from gateway.contract.models import AuditRecord, FaceCaptured


def test_every_library_produces_the_gateways_encoding() -> None:
    for model, datum in ((FaceCaptured, sample_datum()), (AuditRecord, sample_audit_datum())):
        contenders = Contenders(model.avro_name)
        payload = default_codec().encode(model.model_validate(datum))
        assert {contenders.operation(library, "encode")(datum) for library in LIBRARIES} == {payload[HEADER_SIZE:]}


def test_benchmark_reports_rates_and_ratios() -> None:
    result = run(iterations=5, rounds=1)
    for measured in result["records"].values():
        assert set(measured["ops_per_second"]) == {f"{lib}_{op}" for lib in LIBRARIES for op in OPERATIONS}
        assert all(rate > 0 for rate in measured["ops_per_second"].values())
    assert result["records"]["FaceCaptured"]["datum_bytes"] > 512 * 4
    assert "| AuditRecord (913 bytes) | cavro |" in markdown(result)
