"""The SDK's encoding is the gateway's, byte for byte: same schemas, same fingerprints, same
bytes for the same records, and the gateway's codec reads what the SDK writes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import facegate_sdk
import numpy as np
import pytest
from facegate_sdk.contract import HEADER_SIZE, MARKER, Contract, crc64_avro, schema_dir
from facegate_sdk.records import ENUMS
from fastavro.schema import fingerprint as fastavro_fingerprint
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.contract import models as gateway_models
from gateway.contract.codec import default_codec
from gateway.contract.schemas import SchemaSet
from gateway.contract.vocabulary import Purpose
from gateway.core.consent import withdrawal
from gateway.sdk.scenario import build_world
from tests.support.avro_strategies import datum
from tests.support.leaks import LeakFinder, exception_chain

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = facegate_sdk.default_contract()
GATEWAY = SchemaSet.load()
CODEC = default_codec()
READER_ONLY = "UNKNOWN"
SDK_RECORDS: dict[str, Any] = {
    "FaceCaptured": facegate_sdk.FaceCaptured,
    "CameraRegistration": facegate_sdk.CameraRegistration,
    "ConsentRecord": facegate_sdk.ConsentRecord,
    "Enrollment": facegate_sdk.Enrollment,
    "ShareRequest": facegate_sdk.ShareRequest,
}


def test_the_sdk_reads_the_repositorys_schemas() -> None:
    """Editable (as here): schemas/ itself. The wheel's copy is checked below, byte for byte."""
    assert schema_dir() == ROOT / "schemas"


@pytest.mark.timeout(300)
def test_the_wheel_ships_the_repositorys_schemas_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT / "sdk")], check=True
    )
    [wheel] = tmp_path.glob("facegate_sdk-0.3.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            Path(name).name: archive.read(name)
            for name in archive.namelist()
            if name.startswith("facegate_sdk/schemas/")
        }
        names = archive.namelist()
    assert shipped == {p.name: p.read_bytes() for p in sorted((ROOT / "schemas").glob("*.avsc"))}
    assert not [n for n in names if n.startswith("gateway/") or "released" in n or "hatch_build" in n]


def test_every_record_has_the_gateways_schema_and_fingerprint() -> None:
    assert set(CONTRACT.records) == set(GATEWAY.records)
    for ours in CONTRACT:
        theirs = GATEWAY[ours.name]
        assert ours.canonical_form == theirs.canonical_form, ours.name
        assert ours.fingerprint == theirs.fingerprint, ours.name


def test_crc64_avro_is_the_specifications() -> None:
    assert crc64_avro(b"") == 0xC15D213AA4D7A795
    for record in CONTRACT:
        assert record.fingerprint.hex() == fastavro_fingerprint(record.canonical_form, "CRC-64-AVRO")
        assert record.header == MARKER + record.fingerprint and len(record.header) == HEADER_SIZE


def test_the_sdks_enums_are_the_schemas_symbols_a_producer_may_write() -> None:
    """Every symbol but UNKNOWN, the default that stands for a symbol newer than the reader's
    release (never one to write); a symbol added to a schema must be added here too."""
    for name, enum in ENUMS.items():
        symbols = set(CONTRACT.symbols(name))
        ours = {e.value for e in enum}
        assert ours <= symbols, name
        assert symbols - ours <= {READER_ONLY}, name
        assert READER_ONLY not in symbols or CONTRACT.enum_default(name) == READER_ONLY, name


@pytest.mark.parametrize("name", list(SDK_RECORDS))
def test_record_fields_mirror_the_schema(name: str) -> None:
    fields = [f.name for f in dataclasses.fields(SDK_RECORDS[name])]
    assert fields == [f["name"] for f in CONTRACT[name].schema["fields"]]
    assert SDK_RECORDS[name].avro_name == name


def _world_records() -> list[tuple[Any, Any]]:
    """(gateway model, the same record built with the SDK) for a synthetic world's records."""
    world = build_world(seed=3, subjects_per_tenant=3)
    from gateway.sdk.scenario import Traffic

    captures = [c.capture for c in Traffic(world).take(40) if c.capture is not None]
    share = gateway_models.ShareRequest(
        request_id="share-1", tenant_id="acme", subject_id="acme-customer-002", recipient_tenant_id="beta",
        recipient_region="CN-ZJ", purpose=Purpose.ACCESS_CONTROL,
        requested_at=datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC), agreement_id="agr-7",
    )  # fmt: skip
    models: list[Any] = [*world.cameras, *world.consents, *world.enrollments, *captures, share]
    return [(m, SDK_RECORDS[m.avro_name](**m.model_dump())) for m in models]


def test_the_same_records_encode_to_the_same_bytes_and_the_gateway_reads_them() -> None:
    pairs = _world_records()
    assert {m.avro_name for m, _ in pairs} == set(SDK_RECORDS)
    for model, ours in pairs:
        encoded = CONTRACT.encode(ours)
        assert encoded == CODEC.encode(model), model.avro_name
        assert CONTRACT.encode(model) == encoded  # the gateway's models go through the SDK unchanged
        assert CODEC.decode(encoded, type(model)) == model
        assert CONTRACT.decode(encoded) == CODEC.decode_datum(encoded)


def test_a_withdrawal_is_the_gateways() -> None:
    granted = build_world(seed=3, subjects_per_tenant=1).consents[0]
    at = datetime(2026, 11, 26, 10, tzinfo=UTC)
    ours = facegate_sdk.ConsentRecord(**granted.model_dump()).withdrawn(at)
    assert CONTRACT.encode(ours) == CODEC.encode(withdrawal(granted, at))


def _accepted(build: Any, raw: dict[str, Any]) -> bool:
    try:
        build(raw)
    except (ValidationError, facegate_sdk.InvalidRecord):
        return False
    return True


@pytest.mark.parametrize("name", list(SDK_RECORDS))
@given(data=st.data())
def test_generated_records_encode_alike_and_the_sdk_refuses_what_the_gateway_refuses(
    name: str, data: st.DataObject
) -> None:
    raw = data.draw(datum(GATEWAY[name].schema))
    assert CONTRACT.encode_datum(name, raw) == CODEC.encode_datum(name, raw)
    model = gateway_models.RECORD_MODELS[name]
    gateway_ok = _accepted(model.model_validate, raw)
    sdk_ok = _accepted(lambda r: SDK_RECORDS[name](**r), raw)
    reader_only = any(v == READER_ONLY or (isinstance(v, list) and READER_ONLY in v) for v in raw.values())
    assert sdk_ok == (gateway_ok and not reader_only), (gateway_ok, sdk_ok)
    if sdk_ok:
        ours = SDK_RECORDS[name](**raw)
        assert CONTRACT.encode(ours) == CODEC.encode(model.model_validate(raw))


def test_invalid_fields_are_refused_by_name_never_echoing_the_value() -> None:
    capture = _world_records()[-2][1]
    assert isinstance(capture, facegate_sdk.FaceCaptured)
    cases: list[tuple[str, Any]] = [
        ("template", b"\x01\x02\x03"), ("quality", 1.5), ("event_id", ""),
        ("purpose", "SURVEILLANCE"), ("age_estimate", 200), ("captured_at", "today"),
    ]  # fmt: skip
    for field, value in cases:
        with pytest.raises(facegate_sdk.InvalidRecord, match=field) as error:
            dataclasses.replace(capture, **{field: value})
        assert "\\x01" not in str(error.value)
    assert "template" not in repr(capture).replace("template_model", "") and "bytes" not in repr(capture)


@pytest.mark.parametrize(
    ("field", "fits", "too_long"),
    [
        ("CameraRegistration.allowed_purposes", ["SECURITY"] * 16, ["SECURITY"] * 17),
        ("CameraRegistration.signage_evidence", "e" * 256, "e" * 257),
        ("ConsentRecord.purposes", ["SECURITY"] * 16, ["SECURITY"] * 17),
        ("ConsentRecord.recipients", ["r"] * 16, ["r"] * 17),
        ("ConsentRecord.evidence_ref", "e" * 256, "e" * 257),
        ("ShareRequest.agreement_id", "a" * 256, "a" * 257),
    ],
)
def test_the_sdk_refuses_a_list_or_reference_just_past_the_gateways_bound(field: str, fits: Any, too_long: Any) -> None:
    name, attribute = field.split(".")
    raw = next(m for m, _ in _world_records() if m.avro_name == name).model_dump()
    model = gateway_models.RECORD_MODELS[name]
    for value, ok in ((fits, True), (too_long, False)):
        assert _accepted(model.model_validate, raw | {attribute: value}) is ok
        assert _accepted(lambda r: SDK_RECORDS[name](**r), raw | {attribute: value}) is ok, (field, ok)
    if field == "ConsentRecord.evidence_ref":
        assert not _accepted(lambda r: SDK_RECORDS[name](**r), raw | {attribute: ""})


def test_a_record_that_does_not_fit_its_schema_is_an_encode_error() -> None:
    with pytest.raises(facegate_sdk.EncodeError, match="FaceCaptured"):
        CONTRACT.encode_datum("FaceCaptured", {"event_id": "e-1"})
    with pytest.raises(facegate_sdk.ContractError):
        CONTRACT.decode(b"{}")


def test_an_encode_error_carries_no_value_in_its_chain() -> None:
    # fastavro's error quotes the value it could not write (a template's values, passed by mistake
    # as the image); `from None` hid it from tracebacks only, keeping it as __context__.
    capture = _world_records()[-2][1]
    assert isinstance(capture, facegate_sdk.FaceCaptured)
    values = np.frombuffer(capture.template, dtype="<f4").tolist()
    with pytest.raises(facegate_sdk.EncodeError) as caught:
        CONTRACT.encode_datum("FaceCaptured", capture.to_avro() | {"image": values})
    assert caught.value.__context__ is None
    assert LeakFinder([capture.template]).leaks(exception_chain(caught.value)) == []


def test_naive_timestamps_are_utc_cut_to_milliseconds() -> None:
    consent = next(r for _, r in _world_records() if isinstance(r, facegate_sdk.ConsentRecord))
    naive = dataclasses.replace(consent, granted_at=datetime(2026, 1, 1, 12, 0, 0, 999999))
    assert naive.granted_at == datetime(2026, 1, 1, 12, 0, 0, 999000, tzinfo=UTC)


def test_a_contract_from_another_directory(tmp_path: Path) -> None:
    for path in (ROOT / "schemas").glob("*.avsc"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert Contract(tmp_path)["FaceCaptured"].fingerprint == CONTRACT["FaceCaptured"].fingerprint
